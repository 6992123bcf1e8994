"""Child processes of the local cluster: started in groups of their own, never orphaned."""

import ctypes
import os
import signal
import subprocess
from pathlib import Path

import catdog_queue

# The folder of workers/, shared/...: the repository's root, or the installed package's folder.
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# The folder that holds the catdog_queue package (the repository's root, or site-packages):
# child processes import from there, and never see shared/ or client/ as top-level names.
IMPORT_ROOT = Path(catdog_queue.__file__).resolve().parents[1]
_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """A process of the embedded cluster failed to start or died."""


def die_with_parent(signal_number: int):
    """In the child: a process group of its own, and ``signal_number`` if the parent dies.

    So a client killed in any way (SIGKILL too) leaves no worker behind.
    """

    def in_the_child() -> None:
        os.setsid()
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal_number)
        except OSError:
            pass  # not Linux: Ctrl-C and errors still stop the cluster

    return in_the_child


def spawn(
    command: list[str], log_path: Path, environment: dict, tied=True, last_signal=signal.SIGTERM
) -> subprocess.Popen:
    """Run ``command`` from where catdog_queue is importable, its output appended to ``log_path``.

    ``tied``: the process gets ``last_signal`` when this one dies (Celery
    workers: SIGKILL; Redis: SIGTERM, which flushes its files); untied, it
    starts a session of its own and outlives this one (the Redis keeper).
    Linux sends that signal when the *thread* that started the process ends:
    start tied processes from a thread that lives as long as they should.
    """
    environment = dict(environment)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(IMPORT_ROOT), environment.get("PYTHONPATH")])
    )
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=IMPORT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(last_signal) if tied else None,
            start_new_session=not tied,
        )


def log_tail(log_path: Path, lines: int = 5) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n  ".join(text.strip().splitlines()[-lines:])


def terminate_group(process, grace_seconds: float, signal_number=signal.SIGTERM) -> None:
    """Signal the leader (unless None), SIGKILL what is left of its group after the grace."""
    if process.poll() is None:
        # The leader alone: a Celery worker then stops its own pool children.
        if signal_number is not None:
            process.send_signal(signal_number)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            pass
    # Kill the whole group: prefork pool children outlive a killed parent.
    signal_group(process.pid, signal.SIGKILL)
    process.wait()


def signal_group(group_id: int, signal_number: int) -> None:
    try:
        os.killpg(group_id, signal_number)
    except ProcessLookupError:
        pass
