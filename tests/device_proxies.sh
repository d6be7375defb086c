#!/usr/bin/env bash
# Issue 30's GPU run, one script for the device tool's machine (python3 there holds a CUDA torch,
# safetensors, tqdm, pillow; the engine runs from the source tree). From the repository root:
#
#   bash tests/device_proxies.sh                 # on the GPU machine: OUT is the tool's folder
#   OUT=/tmp/dry DEVICE=cpu MINUTES=0.3 RES=32 BATCH=4 SAMPLES=40 GENERATORS=brick,cellular \
#     bash tests/device_proxies.sh               # dry run on a CPU
#
# Trains, side by side on the one GPU, a proxy for every generator with counts that set a period
# (Param.period; GENERATORS to choose), at fractional counts (proxy-train --fractional all), in
# each of MODES (default both, all side by side):
#   warm64     the shipped 64 px proxy fine-tuned (--init-from; its architecture, lr 0.01): on the
#              dev CPU, 30 CPU-minutes of it lifted brick's counts from 0.45 to 0.71 and
#              tile_brick's from 0.43 to 0.68 (paper form) at the shipped L1 (BENCHMARKS, issue 30,
#              session 34);
#   scratch128 from scratch at RES px without per-level tables (--embed-dim 0), the issue's
#              resolution;
# MINUTES each; checkpoints every 2 minutes in $OUT/<mode>/runs/<generator>/ (a run cut short
# keeps them; proxy-train --resume goes on from one), weights in $OUT/<mode>/weights/, then
# proxy-eval of each into $OUT/<mode>/eval_<generator>.json. The exit code is the worst of the parts.
set -u -o pipefail
OUT=${OUT:-out/device_proxies}
mkdir -p "$OUT"
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
modes=${MODES:-warm64,scratch128}
pids=()
for m in ${modes//,/ }; do
  mkdir -p "$OUT/$m/runs" "$OUT/$m/weights"
  for g in ${names//,/ }; do
    case $m in
      warm64) how=(--init-from "engine/weights/$g.safetensors" --lr 0.01) ;;
      scratch128) how=(--res "${RES:-128}" --embed-dim 0) ;;
      *) echo "unknown mode $m" >&2; exit 2 ;;
    esac
    # SIGINT at the limit: proxy-train then writes its checkpoint and weights before it exits
    timeout -s INT "$(awk "BEGIN {print int(${MINUTES:-7} * 60 + 90)}")" \
      $PY -m diffproxy proxy-train --generator "$g" --device "$DEVICE" --minutes "${MINUTES:-7}" \
      "${how[@]}" --batch "${BATCH:-64}" --fractional all --w-feature 1 --w-style 0.1 \
      --threads 1 --out "$OUT/$m/runs/$g" --export "$OUT/$m/weights/$g.safetensors" > "$OUT/$m/runs/$g.log" 2>&1 &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
pids=()
for m in ${modes//,/ }; do
  for g in ${names//,/ }; do
    $PY -m diffproxy proxy-eval --generator "$g" --samples "${SAMPLES:-1000}" --seed 0 --json \
      --device "$DEVICE" --weights-dir "$OUT/$m/weights" --sheet "$OUT/$m/proxies_$g.png" \
      > "$OUT/$m/eval_$g.json" 2> "$OUT/$m/eval_$g.log" &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
