"""``diffproxy graphs [--json]``: the material graphs and every parameter they expose.

The table shows, per graph, each parameter's name, kind, range (choices for a choice), default,
UI group and role (``generator``: pattern parameters, reached through proxies; ``filter``:
colour/shape parameters). ``--json`` prints the same data as ``[graph.describe(), ...]``.
"""

from __future__ import annotations

import argparse
import json

from . import load_graphs

NAME = "graphs"
HELP = "list the material graphs and their parameters"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _range(d: dict) -> str:
    if d["kind"] == "choice":
        return "|".join(d["choices"])
    if d["kind"] == "bool":
        return "true|false"
    if d["kind"] == "int":
        return f"{int(d['min'])}..{int(d['max'])}"
    return f"{d['min']:g}..{d['max']:g}"


def _default(d: dict) -> str:
    v = d["default"]
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def table(graphs: dict) -> str:
    """Readable text: one block per graph with an aligned parameter table."""
    blocks = []
    for name, g in graphs.items():
        desc = g.describe()
        rows = [("parameter", "kind", "range", "default", "group", "role")]
        rows += [(d["name"], d["kind"], _range(d), _default(d), d["group"], d["role"]) for d in desc["params"]]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"{name}: {desc['description']}",
                 f"  slots: {', '.join(f'{s}={gen}' for s, gen in desc['slots'].items()) or '-'}; "
                 f"{len(desc['params'])} parameters; spec hash {desc['spec_hash']}"]
        for i, r in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    graphs = load_graphs()
    if args.json:
        print(json.dumps([g.describe() for g in graphs.values()], indent=2))
    else:
        print(table(graphs))
    return 0
