#!/usr/bin/env bash
# Issue 30's GPU run, one script for the device tool's machine (python3 there holds a CUDA torch,
# safetensors, tqdm, pillow; the engine runs from the source tree). From the repository root:
#
#   bash tests/device_proxies.sh                 # on the GPU machine: OUT is the tool's folder
#   OUT=/tmp/dry DEVICE=cpu MINUTES=0.3 RES=32 BATCH=4 SAMPLES=40 GENERATORS=brick,cellular \
#     bash tests/device_proxies.sh               # dry run on a CPU
#
# Trains, side by side on the one GPU, a proxy for every generator with counts that set a period
# (Param.period; GENERATORS to choose), at fractional counts and without per-level tables
# (proxy-train --fractional all --embed-dim 0), RES px, MINUTES each; checkpoints every 2 minutes
# in $OUT/runs/<generator>/ (a run cut short keeps them; proxy-train --resume goes on from one),
# weights in $OUT/weights/, then proxy-eval of each into $OUT/eval_<generator>.json.
# The exit code is the worst of the parts.
set -u -o pipefail
OUT=${OUT:-out/device_proxies}
mkdir -p "$OUT/runs" "$OUT/weights"
pkg=$(mktemp -d)
ln -s "$PWD/engine" "$pkg/diffproxy"
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
rc=0
$PY -c "import platform, torch; print('python', platform.python_version(), 'torch', torch.__version__, \
'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" \
  2>&1 | tee "$OUT/env.log" || rc=1
names=${GENERATORS:-$($PY -c "from diffproxy.proxies import generator_names, resolve_generator
print(','.join(n for n in generator_names() if any(p.period for p in resolve_generator(n).spec)))")}
echo "generators: $names" | tee -a "$OUT/env.log"
pids=()
for g in ${names//,/ }; do
  # SIGINT at the limit: proxy-train then writes its checkpoint and weights before it exits
  timeout -s INT "$(awk "BEGIN {print int(${MINUTES:-7} * 60 + 90)}")" \
    $PY -m diffproxy proxy-train --generator "$g" --device "$DEVICE" --minutes "${MINUTES:-7}" \
    --res "${RES:-128}" --batch "${BATCH:-64}" --fractional all --embed-dim 0 --w-feature 1 --w-style 0.1 \
    --threads 1 --out "$OUT/runs/$g" --export "$OUT/weights/$g.safetensors" > "$OUT/runs/$g.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
pids=()
for g in ${names//,/ }; do
  $PY -m diffproxy proxy-eval --generator "$g" --samples "${SAMPLES:-1000}" --seed 0 --json \
    --device "$DEVICE" --weights-dir "$OUT/weights" --sheet "$OUT/proxies_$g.png" \
    > "$OUT/eval_$g.json" 2> "$OUT/eval_$g.log" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
