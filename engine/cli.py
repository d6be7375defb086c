"""``diffproxy`` command line: one sub-command per module listed in ``commands.COMMANDS``.

    diffproxy graphs                      list the material graphs and their parameters
    diffproxy render --graph bricks --seed 3 --res 1024 --out out/bricks
    diffproxy contact-sheet --out docs/contact_sheet.png
    diffproxy bench-render --res 1024 4096 --markdown

``main(argv)`` returns the exit code (0 ok, 1 internal failure, 2 a usage or input problem the
message explains, 130 interrupted) so tests can call it in-process; the console script exits with it.
While it runs, warnings print as one line each, ``warning: <message>`` (:func:`show_warning`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from typing import Sequence

from . import __version__
from .commands import COMMANDS, CLIError


def _add_command(sub, name: str, module_name: str) -> None:
    try:
        mod = importlib.import_module(f".commands.{module_name}", __package__)
        if hasattr(mod, "register"):
            mod.register(sub)
            return
        # its arguments built once aside first: a failure there (a command's module importing
        # torch when torch is missing) must not leave a half-made subcommand behind, which
        # would make adding the "unavailable" one below fail with argparse's own error
        mod.add_arguments(argparse.ArgumentParser(add_help=False))
        p = sub.add_parser(name, help=getattr(mod, "HELP", None), description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    except Exception as e:  # one broken command module must not take the whole CLI down
        reason = f"{type(e).__name__}: {e}"
        p = sub.add_parser(name, help=f"(unavailable: {reason})")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_unavailable(name, reason))


def _unavailable(name: str, reason: str):
    def run(args: argparse.Namespace) -> int:
        raise CLIError(f"command {name!r} is unavailable in this installation ({reason})", code=1)
    return run


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: ``warning: <message>`` on one line, without
    Python's source location and code line (a user cannot act on them). Installed by :func:`main`
    only while a command runs, so library users keep Python's own warnings."""
    text = " ".join(str(message).split())
    if not issubclass(category, UserWarning):  # a library's deprecation / runtime note: say whose
        text = f"{category.__name__}: {text}"
    try:
        print(f"warning: {text}", file=file if file is not None else sys.stderr)
    except (OSError, ValueError):  # stderr closed: a warning must not end the command
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffproxy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"diffproxy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for name, module_name in COMMANDS:
        if name not in seen:  # a doubled line must not break the CLI (tests flag it)
            seen.add(name)
            _add_command(sub, name, module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the sub-command, return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage + error (2), or --help/--version (0)
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    from .device import keep_freed_memory
    keep_freed_memory()
    shown, warnings.showwarning = warnings.showwarning, show_warning
    try:
        code = args.func(args)
    except CLIError as e:
        print(f"diffproxy {args.command}: error: {e}", file=sys.stderr)
        return e.code
    except (FileExistsError, FileNotFoundError) as e:  # output exists / input missing: fixable
        print(f"diffproxy {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: show the traceback, exit 1
        traceback.print_exc()
        print(f"diffproxy {args.command}: internal error (traceback above)", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
