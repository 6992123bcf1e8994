"""Running the product's commands (and the plain baselines) as a user would.

Every stderr line is stamped with ``time.time()`` as it arrives, so phases
(first epoch, decode done) are timed from outside, by the same clock for the
job and for the baseline. stderr is a pipe, not a terminal: the client prints
plain progress lines (``train: epoch 1/10 [3s] ...``), not tqdm bars.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import cpuload

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
KAGGLE_TRAIN = REPOSITORY_ROOT.parent / "shared" / "data" / "dogs-vs-cats" / "train"
KAGGLE_TEST = REPOSITORY_ROOT.parent / "shared" / "data" / "dogs-vs-cats" / "test1"
PETS_ORIGINALS = REPOSITORY_ROOT.parent / "shared" / "data" / "pets-originals" / "train"
# A run that takes longer than this is broken, not slow.
COMMAND_TIMEOUT_S = 900


@dataclass
class Finished:
    command: list[str]
    returncode: int
    started: float  # time.time() at launch
    wall_s: float
    stdout: str
    stderr_lines: list[tuple[float, str]] = field(default_factory=list)
    # Cores' worth of CPU used meanwhile by processes not of this run (bench/cpuload.py).
    others_cores: float = float("nan")

    @property
    def stderr(self) -> str:
        return "\n".join(text for _, text in self.stderr_lines)

    def check(self) -> "Finished":
        if self.returncode != 0:
            tail = "\n".join(text for _, text in self.stderr_lines[-25:])
            raise RuntimeError(
                f"{' '.join(self.command)} exited with {self.returncode}:\n{tail}\n{self.stdout}"
            )
        return self


def clean_environment(extra: dict | None = None) -> dict:
    """This environment without a configured broker: submit.py starts its own cluster."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CATDOG_STORE_URL")
    }
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["PYTHONUNBUFFERED"] = "1"
    return environment | (extra or {})


def run_timed(arguments: list[str], environment: dict | None = None, echo=False) -> Finished:
    """Run ``python ARGUMENTS`` from the repository root; wall time and stamped stderr."""
    command = [sys.executable, *arguments]
    lines: list[tuple[float, str]] = []
    window = cpuload.Window().start()
    started = time.time()
    clock = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=REPOSITORY_ROOT,
        env=environment or clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )

    def read_stderr():
        for raw in process.stderr:
            lines.append((time.time(), raw.rstrip("\n")))
            if echo:
                print(f"    | {raw.rstrip()}", file=sys.stderr, flush=True)

    stdout_parts: list[str] = []
    readers = [
        threading.Thread(target=read_stderr, daemon=True),
        threading.Thread(target=lambda: stdout_parts.append(process.stdout.read()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()  # our own child, by its id
        process.wait()
    wall = time.perf_counter() - clock
    for reader in readers:
        reader.join(timeout=10)
    others = window.stop()
    return Finished(
        command, process.returncode, started, wall, "".join(stdout_parts), lines, others
    )


def run_json(arguments: list[str], environment: dict | None = None) -> dict:
    """Run a bench helper that prints one JSON object as its last stdout line."""
    finished = run_timed(arguments, environment).check()
    last = [line for line in finished.stdout.splitlines() if line.strip()][-1]
    result = json.loads(last)
    result["_wall_s"] = finished.wall_s
    result["_finished"] = finished
    return result


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"catdog-bench-{prefix}-"))


def submit_train(data: Path, cache_dir: Path, out_dir: Path, epochs: int, *extra) -> Finished:
    """``python submit.py train`` with the embedded cluster; returns when it is done."""
    arguments = ["submit.py", "train", "--data", str(data), "--epochs", str(epochs)]
    arguments += ["--cache-dir", str(cache_dir), "--out", str(out_dir), *extra]
    return run_timed(arguments).check()


def read_metrics(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "metrics.json").read_text())


def say(message: str) -> None:
    """Progress of a benchmark, on stderr: stdout holds only the table and the ratio."""
    print(message, file=sys.stderr, flush=True)
