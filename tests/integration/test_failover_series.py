"""Ten failovers in a row under running jobs: none lost, no image counted twice.

The master of a highly available local cluster (a master, a replica, three
sentinels, default timing) is killed with SIGKILL ten times; jobs are kept
running throughout, a new one started whenever the last has finished. Before
each kill the test waits for the state that makes the next failover possible:
the server killed last has started again and follows the new master (else
there is no replica to promote). Sentinel waits twice ``failover-timeout``
(20 s) between two failovers of the same master, so the series takes a few
minutes, and the test is marked slow; CI runs it all the same.
"""

import signal

import pytest

from catdog_queue.client.local_cluster import LocalCluster
from tests.faults import finish, logs, signal_master, start_to, wait_for, wait_for_another_master
from tests.images import make_separable_images
from tests.integration.test_failover import admin_client, check_every_image_counted, replica_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FAILOVERS = 10
EPOCHS = 40
IMAGES_PER_LABEL = 40


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ha-series")
    with LocalCluster(
        folder / "cache", folder / "logs", "failovers", cpu_concurrency=1,
        data_roots=[tmp_path_factory.getbasetemp()], standing=True, replicas=1,
    ) as cluster:  # fmt: skip
        yield cluster


@pytest.mark.timeout(900)
def test_ten_failovers_in_a_row_lose_no_job_and_count_no_image_twice(ha_cluster, tmp_path):
    data = tmp_path / "data"
    make_separable_images(data, per_label=IMAGES_PER_LABEL)
    jobs = []  # (process, out folder, job id)

    def start_a_job():
        out = tmp_path / f"out-{len(jobs)}"
        arguments = ["train", "--data", data, "--epochs", EPOCHS, "--batch-size", 2]
        process, job_id = start_to(ha_cluster, [*arguments, "--image-size", 8, "--out", out])
        # submit.py checks the broker once before it submits, and gives up if the master
        # the sentinels name refuses (a job typed during a failover fails at once). Kill
        # only once it is past that check: this test is about jobs already running.
        for line in iter(process.stderr.readline, ""):
            if line.startswith("broker: "):
                break
        else:
            raise AssertionError(f"submit.py exited {process.wait()} before it reached the broker")
        jobs.append((process, out, job_id))

    masters = []  # the port of the master killed each time, then that of the new one
    jobs_running_at_each_kill = []
    for _ in range(FAILOVERS):
        if not jobs or jobs[-1][0].poll() is not None:
            start_a_job()
        jobs_running_at_each_kill.append(jobs[-1][0].poll() is None)
        master = signal_master(ha_cluster, signal.SIGKILL)
        new_port = wait_for_another_master(ha_cluster, master.port, timeout_s=90)
        masters.append((master.port, new_port))
        # The killed server starts again as a replica of the new master: the next
        # failover has a replica to promote.
        revived = admin_client(ha_cluster, master.port)
        wait_for(
            lambda revived=revived, new_port=new_port: replica_of(revived, new_port),
            timeout=90,
            explain=lambda: logs(ha_cluster),
        )
        revived.close()

    results = [finish(process, out, timeout=600) for process, out, _ in jobs]
    print(f"{FAILOVERS} failovers under {len(jobs)} jobs: masters {masters}")
    assert len(masters) == FAILOVERS
    assert all(old != new for old, new in masters)  # the sentinels named another each time
    assert all(jobs_running_at_each_kill)
    # Every job finished (finish asserts exit code 0) with all its epochs and every image
    # used exactly once, in the test set that its split records.
    assert len({job_id for _, _, job_id in jobs}) == len(results)
    for metrics in results:
        assert metrics["epochs_run"] == len(metrics["history"]) == EPOCHS
        check_every_image_counted(metrics, data, 2 * IMAGES_PER_LABEL)
