"""Several machines: a client container with the data (and nothing else of the cluster)
submits with --upload; the workers, which have no view of that data, decode the bytes it
sent through Redis; the results come back to the client's folder."""

import json

import pytest

from tests.docker.conftest import readable_copy_of_images, run
from tests.images import make_separable_images

pytestmark = pytest.mark.docker
FIRST_NUMBER = 7000  # file names no other data set of these tests uses


def test_a_client_with_the_data_trains_on_workers_without_it(compose_cluster, tmp_path):
    generated, data = tmp_path / "generated", tmp_path / "client-data"
    make_separable_images(generated, per_label=30, seed=21)
    data.mkdir()
    for image in generated.iterdir():
        label, number, extension = image.name.split(".")
        image.rename(data / f"{label}.{int(number) + FIRST_NUMBER}.{extension}")
    readable_copy_of_images(data)
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o777)  # the client container's user writes here

    # The client: the cpu image running submit.py, the data read-only at /input, a folder
    # for the results at /out, the broker in its environment (from the compose file).
    process = compose_cluster.run(
        "run", "--rm", "-T",
        "-v", f"{data}:/input:ro", "-v", f"{results}:/out",
        "client", "train", "--data", "/input", "--upload", "--out", "/out/run",
        "--epochs", 3, "--image-size", 12, "--shard-size", 20,
        check=False, timeout=600,
    )  # fmt: skip
    assert process.returncode == 0, f"{process.stderr[-3000:]}\n{compose_cluster.logs()}"
    assert "uploaded 3 of 3 shards" in process.stderr
    metrics = json.loads((results / "run" / "metrics.json").read_text())
    assert metrics["images_used"] == 60 and metrics["images_rejected"] == []
    assert metrics["test_accuracy"] >= 0.8
    assert metrics["data_dir"] == "/input"
    for name in ("model.keras", "model.h5", "history.png"):
        assert (results / "run" / name).stat().st_size > 0

    # The workers never saw those files: no mount of them, no such names anywhere inside.
    workers = compose_cluster.containers("cpu-worker") + compose_cluster.containers("gpu-worker")
    assert workers
    for worker in workers:
        assert str(data) not in {mount["Source"] for mount in worker["Mounts"]}
        found = run(
            ["docker", "exec", worker["Id"], "find", "/", "-xdev", "-name", f"*.{FIRST_NUMBER}.*"],
            120,
            check=False,
        )
        assert found.stdout.strip() == "", found.stdout
        listing = run(["docker", "exec", worker["Id"], "ls", "-A", "/"], 60).stdout.split()
        assert "input" not in listing
