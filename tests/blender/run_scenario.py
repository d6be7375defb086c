"""Entry point of a Blender test process: ``python3 run_scenario.py NAME`` (see harness.py)."""

import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpy  # noqa: E402,F401 - the real Blender, started before the scenario imports anything

import scenarios  # noqa: E402

if __name__ == "__main__":
    name = sys.argv[1]
    args = json.loads(os.environ.get("DPX_SCENARIO_ARGS", "{}"))
    try:
        out = getattr(scenarios, name)(**args)
    except BaseException:
        # exit now: a normal exit can deadlock in the PyPI bpy module's C++ exit handlers
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    with open(os.environ["DPX_SCENARIO_RESULT"], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, default=str)
    print(f"scenario {name}: done", flush=True)
    sys.stderr.flush()
    # the PyPI bpy module can deadlock in its C++ exit handlers; the result is written already
    os._exit(0)
