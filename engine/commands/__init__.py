"""Subcommands of the ``diffproxy`` command line, registered from :data:`COMMANDS`.

Adding a command = one module in this folder + one line in :data:`COMMANDS`. A command module
exposes ``NAME``, ``HELP`` (one line), its docstring (the command's ``--help`` text) and either

* ``add_arguments(parser)`` and ``run(args) -> int`` (the CLI builds the sub-parser), or
* ``register(subparsers) -> parser`` that builds its own sub-parser and sets ``func=run``.

``run`` returns the exit code. A problem the user can fix is reported by raising
:class:`CLIError` (or returning 2 after printing it): the CLI prints ``error: ...`` without a
traceback and exits with the error's code. Modules import heavy dependencies (torch, graphs)
inside ``run`` so ``diffproxy --help`` stays quick and one broken command cannot break the rest.
"""

from __future__ import annotations

# (command name, module in this package); the order is the order in `diffproxy --help`
COMMANDS: list[tuple[str, str]] = [
    ("graphs", "graphs_cmd"),
    ("render", "render_cmd"),
    ("contact-sheet", "contact_sheet_cmd"),
    ("bench-render", "bench_render_cmd"),
    ("bench-photo", "bench_photo_cmd"),
    ("proceduralize", "proceduralize_cmd"),
    ("bench", "bench_cmd"),
    ("bench-gpu", "bench_gpu_cmd"),
    ("serve", "serve_cmd"),
    ("proxy-train", "proxy_train_cmd"),
    ("proxy-eval", "proxy_eval_cmd"),
    ("classifier-train", "classifier_train_cmd"),
    ("estimator-train", "estimator_train_cmd"),
]


class CLIError(Exception):
    """A problem the user can fix: printed as ``error: <message>`` (no traceback), exit ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def load_graphs() -> dict:
    """The graph registry, or a CLIError (exit 1) saying why the graph library cannot load."""
    try:
        from ..graphs import GRAPHS
        len(GRAPHS)  # the registry imports its modules on first use: here, inside the try
    except Exception as e:  # a broken or missing graph module is not the user's fault: exit 1
        raise CLIError(f"the graph library failed to load ({type(e).__name__}: {e})", code=1) from e
    return GRAPHS


def resolve_graph(name: str):
    """Graph by name, or a CLIError listing the available names."""
    graphs = load_graphs()
    if name not in graphs:
        raise CLIError(f"unknown graph {name!r}; available: {', '.join(graphs)} "
                       f"(`diffproxy graphs` describes them)")
    return graphs[name]


def select_graphs(spec: str) -> dict:
    """``"all"`` or ``"a,b"`` -> ``{name: graph}``, or a CLIError naming the unknown ones."""
    graphs = load_graphs()
    if spec == "all":
        return dict(graphs)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in graphs]
    if unknown:
        raise CLIError(f"unknown graph(s) {unknown}; available: {', '.join(graphs)}")
    return {n: graphs[n] for n in names}


def device_arg(name: str):
    """``--device`` value -> torch.device, or a CLIError saying what to use instead."""
    from ..device import pick_device

    try:
        return pick_device(name)
    except (RuntimeError, ValueError) as e:
        raise CLIError(str(e)) from None


def _os_reason(e: OSError) -> str:
    """``e`` in a few words (``permission denied``, ``read-only file system``), no errno."""
    return (e.strerror or type(e).__name__).lower()


def _folder_problem(folder, tidy: bool = True) -> str | None:
    """Why files cannot be written in ``folder`` (``/a/b is a file, not a folder``, ``cannot write
    in /a/b (permission denied)``), or None once a probe file was created and deleted there.
    Why a probe: permissions, a read-only mount or a file in the way show only when writing.
    With ``tidy`` the folders this creates are removed again (the run creates them when it
    writes), so a run that fails later leaves none behind."""
    import os
    import tempfile
    from pathlib import Path

    folder = Path(folder)
    missing = []  # deepest first
    d = folder
    while tidy and not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    step = "create"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        step = "write in"
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".diffproxy-write-test-"):
            pass
    except (FileExistsError, NotADirectoryError):
        blocker = next((a for a in (folder, *folder.parents) if a.exists() and not a.is_dir()), folder)
        return f"{blocker} is a file, not a folder"
    except OSError as e:
        return f"cannot {step} {folder} ({_os_reason(e)})"
    finally:
        for d in missing:
            try:
                os.rmdir(d)
            except OSError:
                break
    return None


def check_writable_folder(folder, option: str = "--out", tidy: bool = True) -> None:
    """Refuse (CLIError) an output folder that cannot be written, before minutes of work: it is
    created, a probe file written and deleted in it (see :func:`_folder_problem`)."""
    problem = _folder_problem(folder, tidy)
    if problem:
        raise CLIError(f"{option} {folder}: {problem}; choose a folder you can write to")


def check_writable_file(path, option: str = "--out", overwrite: bool = False) -> None:
    """Refuse (CLIError) an output file that cannot be written, before the work: an existing file
    without ``overwrite``, a folder at its path, a folder it cannot be created in, an existing
    file that cannot be replaced."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise CLIError(f"{option} {path} is a folder; give the path of a file to write")
    if path.exists() and not overwrite:
        raise CLIError(f"{path} already exists; pass --overwrite to replace it")
    problem = _folder_problem(path.parent)
    if problem is None and path.exists():
        try:  # append mode opens for writing without changing a byte
            open(path, "ab").close()
        except OSError as e:
            problem = f"cannot replace it ({_os_reason(e)})"
    if problem:
        raise CLIError(f"{option} {path}: {problem}; choose a path you can write to")


def read_json_file(path, what: str = "JSON"):
    """The JSON value in ``path`` (a UTF-8 byte order mark is fine), or a CLIError that says in
    one short line what is wrong: missing, unreadable, not JSON, nested too deeply (Python's
    parser recurses: 100 000 ``[`` overflow its stack), a number past 4300 digits."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise CLIError(f"{path}: no such file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise CLIError(f"{path} is not valid {what}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise CLIError(f"{path} cannot be read ({_os_reason(e)})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise CLIError(f"{path} is not valid {what}: nested too deeply") from None
    except json.JSONDecodeError as e:
        raise CLIError(f"{path} is not valid {what}: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:  # int() refuses a literal of more than 4300 digits
        reason = "a number with too many digits" if "digits" in str(e) else str(e)[:80]
        raise CLIError(f"{path} is not valid {what}: {reason}") from None


def resolution(text: str) -> int:
    """argparse type for a map side in pixels: a whole number in 16..16384."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must be an integer number of pixels in 16..16384, "
                                         f"got {text!r}") from None
    if not 16 <= value <= 16384:
        raise argparse.ArgumentTypeError(f"resolution must be an integer in 16..16384, got {value}")
    return value


def progress(total: int, desc: str):
    """tqdm bar on stderr (hidden when stderr is not a terminal)."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=None, leave=False, dynamic_ncols=True)


def add_training_arguments(p, default_out: str, samples: int, val_samples: int, epochs: int) -> None:
    """The arguments shared by the commands that train a network on renders of every graph
    (``classifier-train``, ``estimator-train``)."""
    p.add_argument("--out", default=None, help=f"weights file (default: the shipped {default_out})")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--graphs", default=None, help="comma-separated graph names (default: every graph)")
    p.add_argument("--samples", type=int, default=samples, help=f"training renders per graph (default {samples})")
    p.add_argument("--val-samples", type=int, default=val_samples,
                   help=f"validation renders per graph (default {val_samples})")
    p.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training renders (default {epochs})")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def training_setup(args, default_path, min_graphs: int = 1):
    """Checks of :func:`add_training_arguments`' values, torch's threads set: returns the graph
    names and the output path, or raises a CLIError (an unknown graph, too few graphs, a count
    below 1, an existing output without ``--force``)."""
    from pathlib import Path

    graphs = load_graphs()
    names = list(graphs) if not args.graphs else [g.strip() for g in args.graphs.split(",") if g.strip()]
    unknown = [g for g in names if g not in graphs]
    if unknown:
        raise CLIError(f"unknown graph(s) {', '.join(unknown)}; known: {', '.join(graphs)}")
    if len(names) < min_graphs:
        raise CLIError(f"training needs at least {min_graphs} graph(s)")
    if min(args.samples, args.val_samples, args.epochs) < 1:
        raise CLIError("--samples, --val-samples and --epochs must be at least 1")
    out = Path(args.out) if args.out else Path(default_path)
    if out.exists() and not args.force:
        raise CLIError(f"{out} exists; pass --force to replace it or --out to write elsewhere")
    check_writable_file(out, "--out", overwrite=True)  # before the training, not after
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return names, out


def training_command(name: str, args) -> str:
    """The command line that reproduces a training run (recorded in the weights file)."""
    return f"diffproxy {name} " + " ".join(
        f"--{k.replace('_', '-')} {getattr(args, k)}" for k in ("samples", "val_samples", "epochs", "seed"))
