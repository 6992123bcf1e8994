"""Flower as a person sees it: headless Chromium logs in (basic auth) and the tasks page lists
the job's decode and train tasks by name and id while and after it runs: the train task
STARTED while it trains (the gpu worker's prefork pool sends its events as they happen),
SUCCESS afterwards.

CATDOG_FLOWER_SCREENSHOT=PATH keeps the screenshot taken while the job trains (the one in
docs/ was made so).
"""

import base64
import os
import shutil

import pytest

from tests.docker.browser import BrowserError, Chromium, find_chromium
from tests.docker.conftest import finish, readable_copy_of_images, start_submit, unavailable
from tests.faults import wait_for
from tests.images import make_separable_images

pytestmark = pytest.mark.docker
# Training lasts long enough (about half a minute here) for the page to be loaded and searched.
EPOCHS = 80


@pytest.fixture(scope="module")
def chromium():
    found = find_chromium()
    if found is None:
        unavailable("no Chromium (Debian: apt-get install chromium)")
    return found


def test_the_tasks_page_lists_a_running_jobs_tasks(compose_cluster, chromium, tmp_path):
    folder = compose_cluster.data_dir / "browser"
    make_separable_images(folder, per_label=40, seed=11)
    readable_copy_of_images(folder)
    out = tmp_path / "out"
    # Enough epochs that training is still running when the page is loaded.
    arguments = ["train", "--data", folder, "--worker-data-dir", "/data/browser", "--out", out]
    arguments += ["--epochs", EPOCHS, "--image-size", 16, "--shard-size", 20]
    credentials = base64.b64encode(compose_cluster.flower_credentials.encode()).decode()
    tasks_page = compose_cluster.flower_url() + "/tasks"

    with Chromium(
        chromium, tmp_path / "profile", tmp_path / "chromium.log", (1400, 640)
    ) as browser:
        # Without the password the browser gets no page.
        with pytest.raises(BrowserError, match="AUTH"):
            browser.open(tasks_page)
        browser.set_headers({"Authorization": f"Basic {credentials}"})

        process, job_id = start_submit(compose_cluster, arguments)
        try:
            _wait_for_training(compose_cluster, job_id, decode_tasks=4, timeout_s=180)
            assert process.poll() is None, "the job ended before the page was loaded"
            assert browser.open(tasks_page) == 200
            # Tasks not yet received sort last: search for the job, as a person would.
            browser.type_into("#tasks-table_filter input", job_id)
            expected = ["catdog.decode_shard", "catdog.train", f"{job_id}-decode-0"]
            expected += [f"{job_id}-decode-3", f"{job_id}-train"]
            during = browser.wait_for_text([*expected, "STARTED"], timeout=60)
            screenshot = browser.screenshot(tmp_path / "flower-tasks.png")
            still_training = process.poll() is None
        finally:
            code, stderr = finish(process, timeout=600)
        assert code == 0, stderr[-3000:]
        # What the screenshot shows: the train task running, the job not yet done.
        assert still_training, "the job ended before the screenshot"
        train_row = next(line for line in during.splitlines() if f"{job_id}-train" in line)
        assert "catdog.train" in train_row and "STARTED" in train_row, train_row

        # After the job: the same rows, the train task succeeded.
        assert browser.open(tasks_page) == 200
        browser.type_into("#tasks-table_filter input", job_id)
        after = browser.wait_for_text([*expected, "SUCCESS"], timeout=60)
        train_row = next(line for line in after.splitlines() if f"{job_id}-train" in line)
        assert "catdog.train" in train_row and "SUCCESS" in train_row

    assert "Showing" in during
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("CATDOG_FLOWER_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["CATDOG_FLOWER_SCREENSHOT"])


def _wait_for_training(cluster, job_id: str, decode_tasks: int, timeout_s: float) -> None:
    """Until Flower's task list (built from the workers' events) has every decode task done
    and the train task STARTED: the gpu worker's main process sends the train task's events
    while its pool process trains."""
    decoded = [f"{job_id}-decode-{n}" for n in range(decode_tasks)]
    train = [None]

    def decoded_and_training() -> bool:
        _, tasks = cluster.flower_get("/api/tasks?limit=1000")
        train[0] = tasks.get(f"{job_id}-train", {}).get("state")
        return train[0] == "STARTED" and all(
            tasks.get(task_id, {}).get("state") == "SUCCESS" for task_id in decoded
        )

    wait_for(
        decoded_and_training, timeout_s, 0.5,
        lambda: f"{job_id}: decode not done, or train {train[0]}",
    )  # fmt: skip
