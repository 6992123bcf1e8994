"""The cluster of docker/docker-compose.yml in real containers, for the tests of this folder.

One compose project serves the tests of this folder: the images are built with
docker/build-images.sh (plain TensorFlow: these hosts have no GPU), then Redis, Flower, two
CPU workers and the GPU worker (training on the CPU) start on free loopback ports, with the
random passwords that docker/make_env.py writes into a private env file (one per Redis user
of shared/redis_acl.py, and Flower's); they go to Compose through that file and to submit.py
through its environment, never on a command line. The project is removed, volumes and all,
when the last test of this folder is done.

After every test that uses the cluster, Redis's ACL LOG (read as admin) must name no command
of a worker, a client or Flower that their users' rules refused.

Where no Docker engine, no Compose or no Chromium is found, the tests that need them skip,
naming what is missing; with CATDOG_REQUIRE_DOCKER=1 (set by .ci/run) they fail instead.

Base images: BASE_IMAGE and REDIS_IMAGE if set; else the official python:3.11-slim and
redis:7.4 if this Docker has them; else the stand-ins of docker/make-base-images.sh if it
has those; else the official names (pulled).
"""

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from catdog_queue.shared import redis_acl
from tests.faults import wait_for

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPOSITORY_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"
REQUIRED = os.environ.get("CATDOG_REQUIRE_DOCKER") == "1"
# Test images get their own tags, so a user's catdog-queue/* images are left alone.
CPU_IMAGE = "catdog-queue-test/cpu-worker"
GPU_IMAGE = "catdog-queue-test/gpu-worker"
BUILD_TIMEOUT_S = 1800  # a cold build downloads TensorFlow
COMPOSE_TIMEOUT_S = 300
# The client name of the connections with which tests try what a user may not do: their
# refusals in Redis's ACL LOG are expected.
PROBE = "catdog-acl-probe"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "docker: needs a Docker engine and Compose (skips without; see conftest)"
    )


def unavailable(reason: str):
    """Skip, or fail where CI expects Docker (CATDOG_REQUIRE_DOCKER=1)."""
    if REQUIRED:
        pytest.fail(f"CATDOG_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def run(command, timeout, env=None, check=True, **kwargs) -> subprocess.CompletedProcess:
    """A command with a time limit; on failure, an assertion that shows its output."""
    process = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )
    if check:
        assert process.returncode == 0, (
            f"{' '.join(map(str, command))} exited {process.returncode}:\n"
            f"{process.stdout[-3000:]}\n{process.stderr[-3000:]}"
        )
    return process


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) where it exists, else ``docker-compose`` (v1), else None."""
    try:
        if run(["docker", "compose", "version"], 30, check=False).returncode == 0:
            return ["docker", "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


# Package scope: the cluster stops when the last test of tests/docker is done, not at the end
# of a whole-suite run.
@pytest.fixture(scope="package")
def docker_engine() -> list[str]:
    """The compose command, once a Docker engine has answered."""
    if not shutil.which("docker"):
        unavailable("no docker command on PATH")
    try:
        info = run(["docker", "info", "--format", "{{.ServerVersion}}"], 60, check=False)
    except subprocess.TimeoutExpired:
        unavailable("the Docker engine did not answer `docker info` within 60 s")
    if info.returncode != 0:
        unavailable(f"no Docker engine answers: {info.stderr.strip()[:300]}")
    compose = compose_command()
    if compose is None:
        unavailable("neither `docker compose` nor `docker-compose` is installed")
    return compose


def image_exists(name: str) -> bool:
    return run(["docker", "image", "inspect", name], 60, check=False).returncode == 0


def pick_image(variable: str, official: str, stand_in: str) -> str:
    if os.environ.get(variable):
        return os.environ[variable]
    for name in (official, stand_in):
        if image_exists(name):
            return name
    return official


@pytest.fixture(scope="package")
def images(docker_engine) -> dict:
    """Build the cpu and gpu images (plain TensorFlow); returns the compose variables."""
    settings = {
        "BASE_IMAGE": pick_image("BASE_IMAGE", "python:3.11-slim", "catdog-base/python:3.11"),
        "REDIS_IMAGE": pick_image("REDIS_IMAGE", "redis:7.4", "catdog-base/redis:7"),
        "TENSORFLOW_EXTRAS": "",
        "CPU_IMAGE": CPU_IMAGE,
        "GPU_IMAGE": GPU_IMAGE,
    }
    run([DOCKER_DIR / "build-images.sh"], BUILD_TIMEOUT_S, env=os.environ | settings)
    return settings


class ComposeCluster:
    """A compose project of docker/docker-compose.yml, driven as a user would."""

    def __init__(self, compose: list[str], folder: Path, settings: dict, files=(COMPOSE_FILE,)):
        self.compose = compose
        self.folder = folder
        # docker-compose.yml, then any files that extend it (docker-compose.ha.yml).
        self.files = list(files)
        self.project = f"catdogtest{secrets.token_hex(3)}"
        self.redis_port = free_loopback_port()
        self.flower_port = free_loopback_port()
        self.data_dir = folder / "data"
        self.data_dir.mkdir(mode=0o755)
        self.data_dir.chmod(0o755)  # the containers' user must read it
        # The settings, and the secrets docker/make_env.py generates, reach Compose through
        # this private file (and the environment), not argv. Default settings otherwise: no
        # short visibility timeout (the workers' watchdog re-queues a dead worker's tasks).
        self.env_file = folder / "compose.env"
        settings = settings | {
            "COMPOSE_PROJECT_NAME": self.project,
            "REDIS_PORT": str(self.redis_port),
            "FLOWER_PORT": str(self.flower_port),
            # Two replicas on two cores.
            "CPU_WORKER_CONCURRENCY": "1",
        }
        command = [sys.executable, DOCKER_DIR / "make_env.py", "--data-dir", self.data_dir]
        command += ["--output", self.env_file, *(f"{k}={v}" for k, v in settings.items())]
        run(command, 60)
        lines = self.env_file.read_text().splitlines()
        self.variables = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
        self.passwords = {
            role: self.variables[f"CATDOG_REDIS_{role.upper()}_PASSWORD"]
            for role in redis_acl.ROLES
        }
        self.flower_credentials = self.variables["FLOWER_BASIC_AUTH"]

    def environment(self) -> dict:
        """For Compose: this process's environment (PATH, DOCKER_HOST) and the settings."""
        names = ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME")
        inherited = {name: value for name, value in os.environ.items() if name not in names}
        return inherited | self.variables

    def command(self, *arguments) -> list[str]:
        """The compose command line of this project (to run it in the background)."""
        command = [*self.compose, "--env-file", self.env_file]
        for file in self.files:
            command += ["-f", file]
        return [str(part) for part in [*command, "-p", self.project, *arguments]]

    def run(self, *arguments, timeout=COMPOSE_TIMEOUT_S, check=True):
        command = self.command(*arguments)
        return run(command, timeout, env=self.environment(), check=check, cwd=DOCKER_DIR)

    def containers(self, service: str | None = None, running_only=True) -> list[dict]:
        """``docker inspect`` of the project's containers (of one service)."""
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        listed = run(["docker", "ps", "-q", *([] if running_only else ["-a"]), *filters], 60)
        ids = listed.stdout.split()
        if not ids:
            return []
        return json.loads(run(["docker", "inspect", *ids], 60).stdout)

    def redis_url(self, role: str) -> str:
        """The published Redis, as the user ``role`` (shared/redis_acl.py) reaches it."""
        return redis_acl.redis_url(role, self.passwords[role], "127.0.0.1", self.redis_port, 0)

    def broker_url(self) -> str:
        """What submit.py on the host uses: the client user's URL."""
        return self.redis_url("client")

    def redis(self, role: str = "admin", **options):
        import redis

        return redis.Redis.from_url(self.redis_url(role), socket_timeout=10, **options)

    def denied_commands(self) -> list[dict]:
        """Entries of Redis's ACL LOG (read as admin) in which a worker, a client or Flower
        was refused something, leaving out the tests' own probes (client name PROBE)."""
        admin = self.redis()
        try:
            entries = admin.acl_log(count=1000)  # all of them (Redis keeps 128)
        finally:
            admin.close()
        denied = []
        for entry in entries:
            info = entry.get("client-info") or entry.get("client_info") or ""
            name = info.get("name") if isinstance(info, dict) else _field(info, "name")
            if entry.get("username") in ("worker", "client", "flower") and name != PROBE:
                denied.append(entry)
        return denied

    def reset_acl_log(self) -> None:
        admin = self.redis()
        try:
            admin.acl_log_reset()
        finally:
            admin.close()

    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.flower_port}"

    def client_environment(self) -> dict:
        """For submit.py on the host: the broker in the environment, not on its command line."""
        names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CATDOG_STORE_URL")
        environment = {k: v for k, v in os.environ.items() if k not in names}
        return environment | {"CELERY_BROKER_URL": self.broker_url()}

    def flower_get(self, path: str, credentials: str | None = "default"):
        """(status, parsed JSON) of a Flower API call; HTTPError for 4xx and 5xx."""
        status, body = self.flower_text(path, credentials)
        return status, json.loads(body or "null")

    def flower_text(self, path: str, credentials: str | None = "default") -> tuple[int, str]:
        """(status, body) of a Flower page; HTTPError for 4xx and 5xx."""
        if credentials == "default":
            credentials = self.flower_credentials
        request = urllib.request.Request(self.flower_url() + path)
        if credentials:
            token = base64.b64encode(credentials.encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()

    def logs(self, lines: int = 60) -> str:
        process = self.run("logs", "--no-color", "--tail", str(lines), check=False, timeout=60)
        return process.stdout[-12000:]

    def wait_until_ready(self, workers: int, timeout_s: float = 240.0) -> None:
        """Until Flower answers and sees ``workers`` workers (the gpu worker included)."""
        last = [None]

        def enough_workers() -> bool:
            try:
                _, listed = self.flower_get("/api/workers?refresh=1")
            except (OSError, ValueError) as error:
                last[0] = error  # Flower not up yet
                return False
            last[0] = sorted(listed)
            return len(listed) >= workers

        wait_for(
            enough_workers, timeout_s, 2, lambda: f"workers not ready: {last[0]}\n{self.logs()}"
        )


def _field(client_info: str, name: str) -> str | None:
    """A ``name=value`` field of a ``CLIENT INFO`` line."""
    for part in client_info.split():
        key, _, value = part.partition("=")
        if key == name:
            return value
    return None


_running = []  # the compose cluster, once it is up


@pytest.fixture(scope="package")
def compose_cluster(docker_engine, images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compose")
    cluster = ComposeCluster(docker_engine, folder, images)
    try:
        cluster.run("up", "-d", "--no-build", "--scale", "cpu-worker=2")
        cluster.wait_until_ready(workers=3)
        _running.append(cluster)
        yield cluster
    finally:
        _running.clear()
        (folder / "compose.log").write_text(cluster.logs(lines=400))
        cluster.run("down", "-v", "--remove-orphans", "-t", "5", check=False)


@pytest.fixture(autouse=True)
def no_command_of_the_services_is_denied(request):
    """After each test on the compose cluster: Redis refused no command of the workers
    (their heartbeats and watchdog included), the clients or Flower (ACL LOG, as admin)."""
    yield
    if "compose_cluster" not in request.fixturenames or not _running:
        return
    cluster = _running[0]
    denied = cluster.denied_commands()
    if denied:
        cluster.reset_acl_log()  # reported here, not again by the next test
    assert not denied, f"Redis refused commands of the cluster's users: {denied}"


def submit(cluster: ComposeCluster, arguments, timeout=600) -> subprocess.CompletedProcess:
    """``python submit.py ARGUMENTS`` on the host, against the compose cluster."""
    return subprocess.run(
        [sys.executable, "submit.py", *map(str, arguments)],
        cwd=REPOSITORY_ROOT,
        env=cluster.client_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_submit(cluster: ComposeCluster, arguments) -> tuple[subprocess.Popen, str]:
    """``submit.py`` in the background; returns (process, job id) once it printed the id."""
    process = subprocess.Popen(
        [sys.executable, "submit.py", *map(str, arguments)],
        cwd=REPOSITORY_ROOT,
        env=cluster.client_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stderr.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)
    if not lines:
        process.kill()
        raise AssertionError(f"submit.py printed no job id within 120 s: {process.communicate()}")
    assert lines[0].startswith("job "), lines[0] + process.communicate(timeout=60)[1]
    return process, lines[0].split(":", 1)[0].removeprefix("job ")


def finish(process: subprocess.Popen, timeout=600) -> tuple[int, str]:
    """Wait for a ``start_submit`` process; returns (exit code, the rest of its stderr)."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"submit.py still running after {timeout}s:\n{stderr}") from None
    return process.returncode, stderr


def readable_copy_of_images(folder: Path) -> None:
    """Make a generated folder readable by the containers' user (uid 10001)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
