#!/usr/bin/env bash
# The whole GPU check in one go, on the GPU machine (docs/gpu.md): install the carried
# wheels, run scripts/bench.py, train vln/FollowRoute-v0 with --preset gpu (a 285 s
# training budget), and print the tables last. About 8 minutes on one H100.
#
# Here, first (a machine with a package index; fills .whl/, carry it along):
#               bash scripts/prepare_gpu_wheels.sh minigrid==3.2.0 pygame-ce==2.5.8
# There:        bash scripts/gpu_check.sh            (results in $OUT, or gpu_check/)
# A CPU rehearsal of the same steps, small:  GPU_CHECK_SMALL=1 bash scripts/gpu_check.sh
#
# This script installs the wheels of .whl/ into /tmp/site when the GPU machine's Python has
# no keras. For your own commands there, start each with:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#     --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ] && ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
out=${OUT:-gpu_check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt"
python3 -c "import jax, keras; print('keras', keras.__version__, 'jax', jax.__version__, jax.devices())"

if [ -n "${GPU_CHECK_SMALL:-}" ]; then
  bench_args=(--quick)
  train_args=(--il-episodes 64 --dagger-rounds 1 --dagger-episodes 32 --rl-updates 2 --num-envs 16 --env-workers 2
              --eval-episodes 16 --batch-size 16)
else
  bench_args=()
  train_args=()
fi

start=$(date +%s)
python3 scripts/bench.py "${bench_args[@]}" --json "$out/bench.json" 2>&1 | grep -v "^[IWE]0000\|^WARNING: All log" | tee "$out/bench.log"
echo "bench: $(( $(date +%s) - start )) s"

start=$(date +%s)
rm -rf "$out/gpu_run"
timeout 420 python3 scripts/train.py --preset gpu --out "$out/gpu_run" --no-progress "${train_args[@]}" 2>&1 \
  | grep -v "^[IWE]0000\|^WARNING: All log" | tee "$out/train.log"
echo "train (with evaluation): $(( $(date +%s) - start )) s"

python3 - "$out" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
bench = json.loads((out / "bench.json").read_text())
print(f"\n== bench ({bench['hardware']['label']}; {bench['hardware']['cpu']})")
for r in bench["results"]:
    print(f"{r['name']:<100} {r['value']:>14,.0f} {r['unit']:<12} {r['vs_anchor']}")
run = out / "gpu_run"
if (run / "eval.json").exists():
    ev = json.loads((run / "eval.json").read_text())
    print(f"\n== --preset gpu on {ev['env']}: training {ev['train_time_s']} s "
          f"(with evaluation {ev['wall_time_s']} s), "
          f"{ev['train_frames']:,} training frames, {ev['env_frames']:,} env frames")
    rows = [("after REINFORCE, unseen", ev), ("after REINFORCE, seen", ev["seen"])]
    if "before_rl" in ev:
        rows = [("imitation only, unseen", ev["before_rl"]), ("imitation only, seen", ev["before_rl"]["seen"])] + rows
    for name, r in rows:
        print(f"{name:<28} SR {r['success_rate']:.3f}  SPL {r['spl']:.3f}  NE {r['navigation_error']:.2f}  "
              f"PL {r['path_length']:.1f}  episodes {r['episodes']}")
else:
    print("\n== no eval.json: the training run did not finish (see train.log)")
PY
