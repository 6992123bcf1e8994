"""Flower watches the cluster behind basic auth and shows each job's tasks by name."""

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from catdog_queue.client.commands.cluster import wait_for_http
from catdog_queue.client.local_cluster import free_loopback_port
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration
CREDENTIALS = "tester:flower-secret"


@pytest.fixture(scope="module")
def flower(cluster):
    port = free_loopback_port()
    cluster.start_flower(port, CREDENTIALS)
    wait_for_http(f"http://127.0.0.1:{port}/healthcheck", cluster)
    return f"http://127.0.0.1:{port}"


def get(url: str, credentials: str | None = None):
    request = urllib.request.Request(url)
    if credentials:
        token = base64.b64encode(credentials.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


# /metrics too: Flower 2.2 serves it to anyone; workers/flowerconfig.py closes it.
@pytest.mark.parametrize("path", ["/api/workers", "/api/tasks", "/metrics"])
def test_flower_answers_401_without_credentials(flower, path):
    for credentials in (None, "tester:wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(flower + path, credentials)
        assert refused.value.code == 401


def test_flower_metrics_answer_with_credentials(flower):
    request = urllib.request.Request(flower + "/metrics")
    token = base64.b64encode(CREDENTIALS.encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert "flower_events_total" in response.read().decode()


def test_flower_shows_the_jobs_tasks_as_succeeded(cluster, flower, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    process = run_submit([*arguments, "--out", out], clean_environment() | cluster.environment())
    assert process.returncode == 0, process.stderr
    job_id = json.loads((out / "metrics.json").read_text())["job_id"]

    deadline = time.monotonic() + 30
    while True:
        status, tasks = get(f"{flower}/api/tasks?limit=1000", CREDENTIALS)
        mine = {task_id: task for task_id, task in tasks.items() if task_id.startswith(job_id)}
        if len(mine) == 2 and all(task["state"] == "SUCCESS" for task in mine.values()):
            break
        assert time.monotonic() < deadline, mine
        time.sleep(0.5)
    assert status == 200
    names = {task["name"] for task in mine.values()}
    assert names == {"catdog.decode_shard", "catdog.train"}
    decode = mine[f"{job_id}-decode-0"]
    assert job_id in decode["args"] and "uint8" not in decode["args"]
    status, workers = get(f"{flower}/api/workers?refresh=1", CREDENTIALS)
    assert status == 200 and any(name.startswith("cpu-worker-tests") for name in workers)


def post(url: str, credentials: str, data: dict | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data or {}).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    token = base64.b64encode(credentials.encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def workers_seen_by(flower: str, count: int) -> dict:
    """Flower's /api/workers once it lists ``count`` workers (it learns of them by asking)."""
    deadline = time.monotonic() + 60
    while True:
        _, workers = get(flower + "/api/workers?refresh=1", CREDENTIALS)
        if len(workers) >= count or time.monotonic() > deadline:
            return workers
        time.sleep(0.5)


def test_flowers_worker_controls_change_nothing_and_its_pages_still_answer(cluster, flower):
    """Flower's buttons send Celery's control commands, which the workers refuse: the
    password of Flower (or of anyone reaching it) cannot stop or reconfigure a worker."""
    names = sorted(workers_seen_by(flower, 2))
    gpu = next(name for name in names if name.startswith("gpu-worker"))
    pids = {role: process.pid for role, process in cluster.processes.items()}
    worker_api = f"{flower}/api/worker"
    answers = {
        "pool restart": post(f"{worker_api}/pool/restart/{gpu}", CREDENTIALS),
        "autoscale": post(f"{worker_api}/pool/autoscale/{gpu}", CREDENTIALS, {"min": 1, "max": 4}),
        "cancel consumer": post(
            f"{worker_api}/queue/cancel-consumer/{gpu}", CREDENTIALS, {"queue": "gpu"}
        ),
        "shutdown": post(f"{worker_api}/shutdown/{gpu}", CREDENTIALS),
    }
    for action, (status, text) in answers.items():
        if action != "shutdown":  # Flower asks for a reply to these, and passes the refusal on
            assert status == 403 and "refused" in text, (action, status, text)
    workers = workers_seen_by(flower, 2)
    assert sorted(workers) == names  # both still answer, the GPU worker on its queue
    assert [queue["name"] for queue in workers[gpu]["active_queues"]] == ["gpu"]
    assert {role: process.pid for role, process in cluster.processes.items()} == pids
    assert all(process.poll() is None for process in cluster.processes.values())
