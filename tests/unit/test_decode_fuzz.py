"""A fuzz pass over the decoder: 2,000 damaged JPEG and PNG files, seeded.

The decoder runs in a child process with a time limit, so that a crash (in
libjpeg, libpng, zlib) or a hang fails the test instead of the test run.
"""

import json
import os
import subprocess
import sys

from tests.mutations import write_mutants

FILES = 2000
DECODE_ALL = """
import json, os, sys
from catdog_queue.shared.decode import decode_files
names = sorted(os.listdir(sys.argv[1]))
pixels, used, rejected = decode_files(sys.argv[1], names, 32, 89_478_485)
# VmHWM, not ru_maxrss: the latter carries over the parent's peak (pytest's, with Keras).
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({"names": names, "used": used, "rejected": rejected, "rows": len(pixels),
                  "peak_bytes": peak}))
"""


def test_damaged_files_are_each_used_or_rejected_with_a_reason(tmp_path):
    written = write_mutants(tmp_path / "mutants", FILES, seed=20261129)

    process = subprocess.run(
        [sys.executable, "-c", DECODE_ALL, str(tmp_path / "mutants")],
        capture_output=True,
        text=True,
        timeout=300,  # a hang fails here
        env=os.environ | {"PYTHONPATH": os.getcwd()},
    )

    assert process.returncode == 0, process.stderr[-2000:]  # no crash, no exception
    result = json.loads(process.stdout)
    assert sorted(result["names"]) == sorted(written)
    rejected = {entry["path"]: entry["reason"] for entry in result["rejected"]}
    assert len(result["used"]) + len(rejected) == FILES
    assert set(result["used"]) | set(rejected) == set(written)
    assert not set(result["used"]) & set(rejected)
    assert result["rows"] == len(result["used"])
    for path, reason in rejected.items():
        assert reason and "\n" not in reason and len(reason) < 300, (path, reason)
    # Some damage leaves an image readable, most does not: both paths were exercised.
    assert 0.05 * FILES < len(result["used"]) < 0.95 * FILES
    # No mutant's header talked the decoder into a large allocation.
    assert result["peak_bytes"] < 1 << 30
