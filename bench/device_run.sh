#!/usr/bin/env bash
# The whole product on a lent GPU machine, in one prepared run (see BENCHMARKS.md):
#  1. the scale set: SCALE_IMAGES images made from DATA_DIR's (bench/scale_data.py);
#  2. the cold decode phase on it with each count of DECODE_WORKERS cpu worker processes
#     (a fresh embedded cluster each, bench/cluster_child.py): images/s, the speedup over
#     the first count and that speedup per process;
#  3. a standing cluster (Redis, CPU workers on the cores, the gpu worker on Keras's JAX
#     backend) and, for the MLP and the CNN, the real `submit.py train` on DATA_DIR: images/s
#     in training, the input-wait share, the backend and device, the end-to-end wall; beside
#     each, one plain Keras process on the same images, model and device (bench/plain.py)
#     and the job's wall over the plain process's;
#  4. `submit.py train` (MLP) on the scale set: images/s and wall;
#  5. one table of every figure (phase, figure, target), to paste into BENCHMARKS.md.
#
#   bench/device_run.sh DATA_DIR [EPOCHS]
#
# Sizes (defaults for the H200; a CPU rehearsal takes small ones): DECODE_WORKERS ("1 4 16"),
# DECODE_SHARD_SIZE (1000, submit.py's), SCALE_IMAGES (100000), SCALE_EPOCHS (2).
# WHEELS (default wheelhouse/, made by bench/wheelhouse.sh): installed with --no-index,
# only the requirements this Python lacks. BACKEND (jax), CPU_WORKERS (all cores),
# DATA_MODE (stream: the mode whose input wait is measured), IMAGE_SIZE (64), PYTHON.
# With OUT set (the device tool's output folder), figures.jsonl and summary.md go there.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(cd "${1:?usage: bench/device_run.sh DATA_DIR [EPOCHS]}" && pwd)
epochs=${2:-3}
backend=${BACKEND:-jax}
cpu_workers=${CPU_WORKERS:-$(nproc)}
image_size=${IMAGE_SIZE:-64}
python=${PYTHON:-python3}
scratch=$(mktemp -d /tmp/catdog-device-XXXXXX)
report=${OUT:-$scratch}
figures="$report/figures.jsonl"
: >"$figures"
cluster_pid=
finish() {
    set +e  # every step of the clean-up runs, whatever the cluster's exit status
    # TERM, not INT: a background job of a script ignores SIGINT. Its workers die with it.
    [ -z "$cluster_pid" ] || { kill -TERM "$cluster_pid" 2>/dev/null; wait "$cluster_pid" 2>/dev/null; }
    # A run cut short still leaves the table of the phases it finished.
    [ -e "$report/summary.md" ] || [ ! -s "$figures" ] ||
        "$python" -m bench.device_report summary "$figures" | tee "$report/summary.md"
    rm -rf "$scratch"
}
trap finish EXIT
run_started=$(date +%s.%N)

seconds_since() { awk -v start="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.2f", now - start }'; }
fail_with() { tail -25 "$1"; exit 1; }

missing=$("$python" -m bench.device_report missing requirements.txt)
if [ -n "$missing" ]; then
    # The device's python3 is itself a virtualenv (/opt/torch/.venv): --system-site-packages
    # would see the interpreter's bare site-packages, not its JAX. A .pth file adds the
    # running Python's own folders (and their .pth files) after the new venv's, and pip
    # counts what they hold as installed: only what is missing comes from the wheels.
    # --without-pip: the interpreter may lack ensurepip; this Python's pip installs there.
    "$python" -m venv --without-pip "$scratch/venv"
    pth="$("$scratch/venv/bin/python" -c "import site; print(site.getsitepackages()[0])")/device.pth"
    "$python" -c "import site; print(f'import site; [site.addsitedir(d) for d in \
{site.getsitepackages()!r}]')" >"$pth"
    # shellcheck disable=SC2086  # one word per requirement
    "$python" -m pip --python "$scratch/venv/bin/python" install --quiet --no-index \
        --find-links "${WHEELS:-wheelhouse}" $missing
    python="$scratch/venv/bin/python"
fi
# As the gpu worker sets it for itself (training/devices.py): a second JAX process, the
# plain one, must find GPU memory free beside it.
export KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
export PYTHONUNBUFFERED=1
"$python" -c "import keras, sys; print('python', sys.version.split()[0], 'keras', keras.__version__)"
echo "installed and ready after $(seconds_since "$run_started") s"

started=$(date +%s.%N)
scale_dir=$("$python" -m bench.scale_data "$data" "${SCALE_IMAGES:-100000}")
echo "scale set: ${SCALE_IMAGES:-100000} images in $scale_dir ($(seconds_since "$started") s)"

# Before the standing cluster: each count has the cores to itself.
decode_results=()
for processes in ${DECODE_WORKERS:-1 4 16}; do
    result="$scratch/decode-$processes.json"
    "$python" -m bench.cluster_child --data "$scale_dir" --concurrency "$processes" \
        --shard-size "${DECODE_SHARD_SIZE:-1000}" --image-size "$image_size" \
        >"$result" 2>"$scratch/decode-$processes.log" || fail_with "$scratch/decode-$processes.log"
    decode_results+=("$result")
done
"$python" -m bench.device_report decode "$figures" "${decode_results[@]}"

# A standing cluster in the background; its first line names the broker.
"$python" submit.py cluster --backend "$backend" --cpu-workers "$cpu_workers" \
    --cache-dir "$scratch/cache" --data-root "$data" --data-root "$scale_dir" \
    >"$scratch/cluster.out" 2>&1 &
cluster_pid=$!
for _ in $(seq 120); do
    grep -q '^broker: ' "$scratch/cluster.out" 2>/dev/null && break
    kill -0 "$cluster_pid" 2>/dev/null || break  # it refused to start: no use waiting
    sleep 0.5
done
broker=$(sed -n 's/^broker: //p' "$scratch/cluster.out")
[ -n "$broker" ] || fail_with "$scratch/cluster.out"
echo "cluster: $cpu_workers cpu worker processes, gpu worker on $backend"

for model in mlp cnn; do
    started=$(date +%s.%N)
    "$python" submit.py train --data "$data" --model "$model" --epochs "$epochs" \
        --image-size "$image_size" --data-mode "${DATA_MODE:-stream}" \
        --broker "$broker" --out "$scratch/$model" >"$scratch/$model.log" 2>&1 \
        || fail_with "$scratch/$model.log"
    job_wall=$(seconds_since "$started")
    started=$(date +%s.%N)
    "$python" -m bench.plain --data "$data" --epochs "$epochs" --image-size "$image_size" \
        --model "$model" >"$scratch/plain-$model.json" 2>"$scratch/plain-$model.log" \
        || fail_with "$scratch/plain-$model.log"
    plain_wall=$(seconds_since "$started")
    "$python" -m bench.device_report job "$figures" "$scratch/$model/metrics.json" "$job_wall" \
        --plain "$scratch/plain-$model.json" --plain-wall "$plain_wall"
done

started=$(date +%s.%N)
"$python" submit.py train --data "$scale_dir" --model mlp --epochs "${SCALE_EPOCHS:-2}" \
    --image-size "$image_size" --broker "$broker" --out "$scratch/scale" \
    >"$scratch/scale.log" 2>&1 || fail_with "$scratch/scale.log"
"$python" -m bench.device_report scale "$figures" "$scratch/scale/metrics.json" \
    "$(seconds_since "$started")"

echo "whole run: $(seconds_since "$run_started") s"
"$python" -m bench.device_report summary "$figures" | tee "$report/summary.md"
