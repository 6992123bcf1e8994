"""Hostile files against real workers: formats chosen by content, reads that cannot
escape, bounded memory, and machine faults that fail loudly instead of being cached.

Jobs go through ``submit.py`` as users run them; files swapped in after the
listing are sent to a worker directly as decode tasks, as a changed disk (or
a forged task) would present them.
"""

import hashlib
import json
import os
import shutil
import socket
import struct
import zlib

import numpy as np
import pytest

from catdog_queue.client import follow
from catdog_queue.client.local_cluster import LocalCluster
from catdog_queue.shared.decode import decode_files
from catdog_queue.shared.listing import list_labelled_images, plan_shards
from tests.images import (
    MINIMAL_EPS,
    install_fake_ghostscript,
    make_separable_images,
    other_formats,
)
from tests.integration.conftest import clean_environment, run_submit
from tests.mutations import write_mutants

pytestmark = pytest.mark.integration


def fake_shard_key(name: str) -> str:
    """A key of the form workers accept (``shared.task_arguments``), named for the test."""
    return "catdog:shard:" + hashlib.sha256(name.encode()).hexdigest()


def big_png_header(width: int, height: int, colour_type: int) -> bytes:
    """A tiny PNG whose header claims a large image (colour type 6: RGBA)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def write_hostile_folder(folder, outside) -> dict[str, str]:
    """Good images plus one file of every hostile kind; {relative path: reason fragment}."""
    make_separable_images(folder, per_label=15)
    expected = {}
    pixels = np.full((16, 16, 3), (200, 60, 60), np.uint8)
    for number, (found, data) in enumerate(other_formats(pixels).items()):
        name = f"cat.{9990 + number}.jpg"
        (folder / name).write_bytes(data)
        expected[name] = f"not a JPEG or PNG file (found {found})"
    os.mkfifo(folder / "cat.9980.jpg")
    expected["cat.9980.jpg"] = "FIFO"
    (folder / "dog.9981.jpg").mkdir()
    (folder / "dog.9981.jpg" / "dog.9982.jpg").write_bytes((folder / "dog.0.png").read_bytes())
    expected["dog.9981.jpg"] = "a folder named like an image"
    outside.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "cat.0.jpg", outside / "cat.9983.jpg")
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    expected["elsewhere"] = "symbolic link"
    (folder / "cat.9984.jpg").symlink_to(outside / "cat.9983.jpg")
    expected["cat.9984.jpg"] = "symbolic link"
    (folder / "dog.9985.png").write_bytes(big_png_header(9000, 9000, 6))  # RGBA
    expected["dog.9985.png"] = "too large to decode: 9000x9000 RGBA"
    return expected


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    expected = write_hostile_folder(folder / "data", folder / "outside")
    return folder, expected


@pytest.mark.parametrize("upload", [False, True], ids=["workers read", "client uploads"])
def test_every_hostile_file_is_rejected_with_its_reason(cluster, hostile_folder, upload):
    folder, expected = hostile_folder
    out = folder / f"out-{upload}"
    arguments = ["train", "--data", folder / "data", "--epochs", 1, "--image-size", 8]
    arguments += ["--out", out, *(["--upload"] if upload else [])]

    # A FIFO opened for reading would block forever: the timeout turns that into a failure.
    process = run_submit(arguments, clean_environment() | cluster.environment(), timeout=300)

    assert process.returncode == 0, process.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    rejected = {item["path"]: item["reason"] for item in metrics["images_rejected"]}
    for path, fragment in expected.items():
        assert fragment in rejected[path], (path, rejected.get(path))
    assert metrics["images_used"] == 30  # the good images, and nothing from inside the folder
    assert metrics["images_used"] + len(rejected) == metrics["images_total"]
    # Nothing was listed from inside the folder named like an image, nor through the link.
    assert not any(path.startswith(("dog.9981.jpg/", "elsewhere/")) for path in rejected)


def decode_task(app, data_root, key: str, paths: list[str]):
    shard = {"key": key, "index": 0, "paths": paths, "image_size": 8}
    return app.signature(
        "catdog.decode_shard", args=("hostile", str(data_root), shard)
    ).apply_async()


def test_files_swapped_after_listing_are_rejected_not_followed(cluster, cluster_app, tmp_path):
    data = tmp_path / "data"
    make_separable_images(data, per_label=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(data / "cat.0.jpg", outside / "secret.jpg")
    (data / "cat.1.jpg").symlink_to(outside / "secret.jpg")  # was a file when listed
    (data / "sub").symlink_to(outside, target_is_directory=True)  # was a folder
    os.mkfifo(data / "cat.2.jpg")
    (data / "cat.3.jpg").mkdir()
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(data / "cat.4.jpg"))
    paths = ["cat.0.jpg", "cat.1.jpg", "sub/secret.jpg", "cat.2.jpg", "cat.3.jpg", "cat.4.jpg"]

    task = decode_task(cluster_app, data, fake_shard_key("hostile-swapped"), paths)
    summary = task.get(timeout=60)
    listening.close()

    reasons = {item["path"]: item["reason"] for item in summary["rejected"]}
    assert summary["used"] == 1 and len(reasons) == 5
    assert "symbolic link" in reasons["cat.1.jpg"]
    assert "folder that is a symbolic link" in reasons["sub/secret.jpg"]
    assert reasons["cat.2.jpg"] == "a FIFO (named pipe), not a regular file"
    assert reasons["cat.3.jpg"] == "a folder, not a regular file"
    assert reasons["cat.4.jpg"] == "a socket, not a regular file"
    follow.release_results(cluster_app, [task.id])


def test_a_file_missing_on_the_workers_fails_the_job_and_caches_nothing(cluster, tmp_path):
    # The client lists data/; the workers see workers-view/, where one file is missing
    # (a mount that lags behind, a file deleted after listing).
    make_separable_images(tmp_path / "data", per_label=10)
    shutil.copytree(tmp_path / "data", tmp_path / "workers-view")
    (tmp_path / "workers-view" / "dog.3.png").unlink()
    (shard,) = plan_shards(list_labelled_images(tmp_path / "data"), 100, 8)
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    arguments += ["--worker-data-dir", tmp_path / "workers-view", "--shard-size", 100]
    environment = clean_environment() | cluster.environment()

    failed = run_submit([*arguments, "--out", tmp_path / "first"], environment, timeout=300)

    assert failed.returncode == 1
    last_line = failed.stderr.strip().splitlines()[-1]
    assert "cannot read dog.3.png" in last_line and "ENOENT" in last_line
    assert not cluster.redis().exists(shard["key"])  # no rejection stored for 7 days

    shutil.copy(tmp_path / "data" / "dog.3.png", tmp_path / "workers-view" / "dog.3.png")
    fixed = run_submit([*arguments, "--out", tmp_path / "second"], environment, timeout=300)

    assert fixed.returncode == 0, fixed.stderr
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert metrics["images_used"] == 20 and metrics["images_rejected"] == []
    assert metrics["shards"]["reused"] == 0  # decoded now, not served a stale failure
    assert cluster.redis().exists(shard["key"])


def test_damaged_files_through_a_real_job(cluster, tmp_path):
    # The fuzz pass of tests/unit/test_decode_fuzz.py, smaller, through the cluster.
    make_separable_images(tmp_path / "data" / "good", per_label=10)
    mutants = write_mutants(tmp_path / "data" / "mutants", 150, seed=7)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    arguments += ["--shard-size", 40, "--out", out]

    process = run_submit(arguments, clean_environment() | cluster.environment(), timeout=300)

    assert process.returncode == 0, process.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    rejected = {item["path"]: item["reason"] for item in metrics["images_rejected"]}
    assert metrics["images_total"] == 170
    assert metrics["images_used"] + len(rejected) == 170
    assert all(reason and "\n" not in reason for reason in rejected.values())
    # The workers reach the same verdicts as this process does on the same files.
    _, used_here, _ = decode_files(tmp_path / "data" / "mutants", mutants, 8, 89_478_485)
    used_there = {name for name in mutants if os.path.join("mutants", name) not in rejected}
    assert used_there == set(used_here)


def test_workers_never_run_ghostscript(tmp_path):
    fake_bin = install_fake_ghostscript(tmp_path)
    marker = tmp_path / "ghostscript-ran"
    data = tmp_path / "data"
    make_separable_images(data, per_label=1)
    (data / "cat.9999.jpg").write_bytes(MINIMAL_EPS)
    path = f"{fake_bin}{os.pathsep}{os.environ['PATH']}"
    environment = {"PATH": path, "GHOSTSCRIPT_MARKER": str(marker)}

    with (
        LocalCluster(
            tmp_path / "cache", tmp_path / "logs", "ghostscript", cpu_concurrency=1,
            data_roots=[tmp_path], extra_environment=environment, gpu_workers=0,
        ) as private,
        private.client_app() as app,
    ):  # fmt: skip
        # The workers would find the fake first, as Pillow looks for "gs" on PATH.
        worker_environment = (
            open(f"/proc/{private.processes['cpu-worker'].pid}/environ", "rb").read().split(b"\0")
        )
        assert f"PATH={path}".encode() in worker_environment
        assert shutil.which("gs", path=path) == str(fake_bin / "gs")

        task = decode_task(app, data, fake_shard_key("hostile-eps"), ["cat.0.jpg", "cat.9999.jpg"])
        summary = task.get(timeout=120)
        follow.release_results(app, [task.id])

    assert summary["used"] == 1
    assert summary["rejected"] == [
        {"path": "cat.9999.jpg", "reason": "not a JPEG or PNG file (found EPS): convert it first"}
    ]
    assert not marker.exists()
