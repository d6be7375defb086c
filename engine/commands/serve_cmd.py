"""``diffproxy serve``: the JSON-lines engine server the Blender add-on talks to.

Reads requests on stdin, writes events on stdout, logs on stderr, and exits when stdin closes
or on SIGTERM/SIGINT, removing its temp folder (the protocol is documented in
``diffproxy/server.py``). Same as ``python -m diffproxy.server``.
"""

from __future__ import annotations

import argparse

NAME = "serve"
HELP = "run the JSON-lines engine server (used by the Blender add-on)"


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log-level", default=None, help="stderr log level (DEBUG, INFO, WARNING)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..server import main
    return main(["--log-level", args.log_level] if args.log_level else [])
