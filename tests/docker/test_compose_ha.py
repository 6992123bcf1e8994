"""docker/docker-compose.ha.yml really runs: a Redis master, a replica and three sentinels,
each in its own container; the master's container killed mid-training, the sentinels name
the replica, the job (submitted from the `client` container, which resolves the names the
sentinels hand out) finishes with every image counted once, and the killed server, started
again, follows the new master."""

import json
import subprocess

import pytest

from tests.docker.conftest import (
    DOCKER_DIR,
    ComposeCluster,
    readable_copy_of_images,
    run,
)
from tests.faults import wait_for
from tests.images import make_separable_images

pytestmark = pytest.mark.docker

HA_FILE = DOCKER_DIR / "docker-compose.ha.yml"
MASTER_NAME = "catdog"  # CATDOG_SENTINEL_MASTER's default
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
IMAGES_PER_LABEL = 60
EPOCHS = 20


@pytest.fixture(scope="module")
def ha_cluster(docker_engine, images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compose-ha")
    files = (DOCKER_DIR / "docker-compose.yml", HA_FILE)
    cluster = ComposeCluster(docker_engine, folder, images, files=files)
    try:
        # One CPU worker: the decode is small, and these hosts have few cores.
        cluster.run("up", "-d", "--no-build", "--scale", "cpu-worker=1")
        cluster.wait_until_ready(workers=2)
        yield cluster
    finally:
        (folder / "compose.log").write_text(cluster.logs(lines=400))
        cluster.run("down", "-v", "--remove-orphans", "-t", "5", check=False)


def container_of(cluster: ComposeCluster, service: str) -> str:
    (container,) = cluster.containers(service, running_only=False)
    return container["Id"]


def ask_sentinel(cluster: ComposeCluster, sentinel: str, *command) -> list[str]:
    """A SENTINEL command, sent by redis-cli in that sentinel's container as the worker user
    (allowed to ask where the master and replicas are); its raw answer, one line a field."""
    cli = ["redis-cli", "--raw", "-p", "26379", "--user", "worker", "sentinel", *command]
    answer = run(["docker", "exec", container_of(cluster, sentinel), *cli], 60, check=False)
    return answer.stdout.splitlines()


def master_named_by(cluster: ComposeCluster, sentinel: str) -> str | None:
    answer = ask_sentinel(cluster, sentinel, "get-master-addr-by-name", MASTER_NAME)
    return answer[0] if len(answer) == 2 else None


def replicas_seen_by(cluster: ComposeCluster, sentinel: str) -> list[dict]:
    """SENTINEL REPLICAS: one dict a replica (name, ip, flags, master-link-status, ...)."""
    fields = ask_sentinel(cluster, sentinel, "replicas", MASTER_NAME)
    replicas = []
    for key, value in zip(fields[::2], fields[1::2]):
        if key == "name":
            replicas.append({})
        replicas[-1][key] = value
    return replicas


def training_epoch(cluster: ComposeCluster, job_id: str) -> int:
    """The train task's epoch, as its state in the (first) master says."""
    admin = cluster.redis("admin")
    try:
        raw = admin.get(f"celery-task-meta-{job_id}-train")
    finally:
        admin.close()
    meta = json.loads(raw) if raw else {}
    if meta.get("status") != "TRAINING":
        return 0
    return meta["result"].get("epoch", 0)


def start_client(cluster: ComposeCluster, out, arguments) -> tuple[subprocess.Popen, str]:
    """submit.py in the `client` container (the sentinels' host names resolve only inside
    the compose network); returns (process, job id) once it printed the id."""
    command = cluster.command(
        "run", "--rm", "-T", "-v", f"{cluster.data_dir}:/data:ro", "-v", f"{out}:/out",
        "client", *map(str, arguments), "--out", "/out",
    )  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=DOCKER_DIR,
        env=cluster.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("job "):
            return process, line.split(":", 1)[0].removeprefix("job ")
    process.wait(timeout=60)
    raise AssertionError(f"the client printed no job id:\n{''.join(seen)}")


def test_the_master_container_killed_mid_training_and_the_job_finishes(ha_cluster, tmp_path):
    running = {c["Config"]["Labels"]["com.docker.compose.service"] for c in ha_cluster.containers()}
    assert {"redis", "redis-replica", *SENTINELS} <= running
    assert all(master_named_by(ha_cluster, name) == "redis" for name in SENTINELS)

    folder = ha_cluster.data_dir / "ha"
    make_separable_images(folder, per_label=IMAGES_PER_LABEL, side=24, seed=21)
    readable_copy_of_images(folder)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the client container's user writes the model here
    arguments = ["train", "--data", "/data/ha", "--worker-data-dir", "/data/ha"]
    arguments += ["--epochs", EPOCHS, "--batch-size", 2, "--image-size", 8]
    process, job_id = start_client(ha_cluster, out, arguments)
    try:
        wait_for(
            lambda: training_epoch(ha_cluster, job_id) >= 2,
            timeout=300,
            interval=0.5,
            explain=lambda: f"no epoch 2 of {job_id}\n{ha_cluster.logs()}",
        )
        epoch_at_the_kill = training_epoch(ha_cluster, job_id)
        master = container_of(ha_cluster, "redis")
        run(["docker", "kill", master], 60)  # SIGKILL: no shutdown, no final snapshot
        wait_for(
            lambda: all(master_named_by(ha_cluster, name) == "redis-replica" for name in SENTINELS),
            timeout=120,
            interval=0.5,
            explain=lambda: f"the sentinels named no new master\n{ha_cluster.logs()}",
        )
    finally:
        output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, f"{output[-3000:]}\n{ha_cluster.logs()}"
    assert 2 <= epoch_at_the_kill < EPOCHS  # the kill landed mid-training

    metrics = json.loads((out / "metrics.json").read_text())
    total = 2 * IMAGES_PER_LABEL
    assert metrics["epochs_run"] == len(metrics["history"]) == EPOCHS
    assert metrics["images_total"] == metrics["images_used"] == total
    assert metrics["images_rejected"] == []
    assert metrics["train_images"] + metrics["test_images"] == total
    sentinel_log = run(["docker", "logs", container_of(ha_cluster, "sentinel-1")], 60)
    assert "+switch-master catdog redis 6379 redis-replica 6379" in sentinel_log.stdout

    # The killed server, started again, is turned into a replica of the new master.
    run(["docker", "start", container_of(ha_cluster, "redis")], 60)

    def old_master_follows() -> bool:
        replicas = replicas_seen_by(ha_cluster, "sentinel-1")
        old = [replica for replica in replicas if replica.get("ip") == "redis"]
        return bool(old) and "s_down" not in old[0]["flags"] and "slave" in old[0]["flags"]

    wait_for(
        old_master_follows,
        timeout=120,
        interval=0.5,
        explain=lambda: f"{replicas_seen_by(ha_cluster, 'sentinel-1')}\n{ha_cluster.logs()}",
    )
    assert master_named_by(ha_cluster, "sentinel-1") == "redis-replica"
