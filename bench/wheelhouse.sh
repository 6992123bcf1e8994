#!/usr/bin/env bash
# The wheels bench/device_run.sh installs on a lent GPU machine, built here (the device
# reaches no package registry): requirements.txt less TensorFlow, with their dependencies,
# for that machine's Python 3.12 on x86-64 Linux; then the size to carry.
#
#   bench/wheelhouse.sh [DIR]        # default wheelhouse/ (ignored by git)
#
# The machine already holds the large compiled packages below (KINDS.md of the device
# tool, read 2026-11-17), and device_run.sh installs only the requirements it lacks, so
# their wheels are dropped: the carried tree must stay under 64 MiB. Pure-Python wheels
# of packages it holds are kept (small), in case its version is too old for a dependant.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-wheelhouse}
python=${PYTHON:-python3}
on_device="numpy pillow matplotlib fonttools kiwisolver contourpy h5py ml_dtypes psutil"

rm -rf "$dir"
# pip matches each manylinux tag exactly: name every one the wheels here carry.
"$python" -m pip download --quiet --dest "$dir" --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    $(grep -v -e '^#' -e '^tensorflow' -e '^$' requirements.txt)
all_mib=$(du -sm "$dir" | cut -f1)
for name in $on_device; do
    rm -f "$dir/$name"-[0-9]*.whl
done
echo "wheelhouse $dir: $(ls "$dir" | wc -l) wheels, $(du -sm "$dir" | cut -f1) MiB" \
    "($all_mib MiB before dropping what the device holds: $on_device)"
echo "tracked files: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1 |
    awk '{printf "%.1f", $1 / 1048576}') MiB; a call carries at most 64 MiB in all"
