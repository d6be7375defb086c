#!/usr/bin/env bash
# The GPU checks of issue 29, one script for the device tool's machine (an H200 whose python3
# holds a CUDA build of torch; nothing can be installed there, so the engine runs from the
# source tree). From the repository root:
#
#   bash tests/device_check.sh                 # on the GPU machine: OUT is the tool's folder
#   OUT=/tmp/dry DEVICES=cpu PRESETS=fast SYNTHETIC=1 bash tests/device_check.sh   # dry run on a CPU
#
# Writes env.log, tests.log, bench.log and bench_gpu.json under $OUT: the torch build and GPU,
# the suite's CUDA tests, then `diffproxy bench-gpu` (every preset on the GPU, `fast` on the
# CPU for the ratio), then `full` on the photo with its restarts one after another
# (bench_gpu_unbatched.json: what the batch gains). Each part runs whatever the previous one
# gave; the exit code is the worst.
set -u -o pipefail
OUT=${OUT:-out/device}
mkdir -p "$OUT"
pkg=$(mktemp -d)
ln -s "$PWD/engine" "$pkg/diffproxy"
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
rc=0
$PY -c "import platform, torch; print('python', platform.python_version(), 'torch', torch.__version__, \
'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" \
  2>&1 | tee "$OUT/env.log" || rc=1
# the suite's tests that need a GPU (skipped on every CPU machine: 13 in all)
$PY -m pytest -q -rs -p no:cacheprovider -k "cuda or parameters_device" tests/test_generators.py \
  tests/test_optimize_workers.py tests/test_optimize_batching.py 2>&1 | tee "$OUT/tests.log" || rc=1
timeout "${BENCH_TIMEOUT:-420}" $PY -m diffproxy bench-gpu --devices "${DEVICES:-cuda,cpu}" \
  --presets "${PRESETS:-fast,balanced,full}" --cpu-presets fast --synthetic "${SYNTHETIC:-4}" \
  --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench.log" || rc=1
# the same `full` on the default photo without the restarts' batch (one after another): its gain
timeout "${UNBATCHED_TIMEOUT:-100}" $PY -m diffproxy bench-gpu --devices "${DEVICES%%,*}" \
  --presets "${UNBATCHED_PRESETS:-full}" --synthetic 0 --batch off \
  --json "$OUT/bench_gpu_unbatched.json" 2>&1 | tee "$OUT/bench_unbatched.log" || rc=1
exit $rc
