"""``--upload`` reads files as workers do, within limits, and never blocks on a FIFO."""

import os
import threading

import pytest

from catdog_queue.client.upload import UploadRefused, read_shard_files, upload_missing_shards
from catdog_queue.shared.data_access import DataFolder
from catdog_queue.shared.listing import DataError

LIMIT = 1 << 20


def shard_of(*paths, index=0) -> dict:
    return {"key": f"catdog:shard:test-{index}", "index": index, "paths": list(paths)}


class RecordingStore:
    """What upload_missing_shards asks of a ShardStore: which shards exist, and puts."""

    def __init__(self, cached=()):
        self.cached = set(cached)
        self.uploads = {}

    def touch(self, key):
        return key in self.cached

    def put_upload(self, key, contents, reasons):
        self.uploads[key] = (contents, reasons)


def test_files_and_rejections_of_a_shard(tmp_path, root_with_oddities):
    with DataFolder(root_with_oddities) as folder:
        contents, reasons = read_shard_files(
            folder, shard_of("cat.1.jpg", "cat.2.jpg", "cat.3.jpg", "cat.4.jpg"), LIMIT, LIMIT
        )

    assert contents == {"cat.1.jpg": b"cat one"}
    assert "symbolic link" in reasons["cat.2.jpg"]
    assert "FIFO" in reasons["cat.3.jpg"]
    assert "folder" in reasons["cat.4.jpg"]


@pytest.fixture
def root_with_oddities(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "cat.1.jpg").write_bytes(b"cat one")
    (tmp_path / "secret").write_bytes(b"secret")
    (root / "cat.2.jpg").symlink_to(tmp_path / "secret")
    os.mkfifo(root / "cat.3.jpg")  # e.g. swapped in after listing
    (root / "cat.4.jpg").mkdir()
    return root


def test_a_fifo_does_not_block_the_upload(root_with_oddities):
    store, done = RecordingStore(), []
    uploading = threading.Thread(
        target=lambda: done.append(
            upload_missing_shards(store, root_with_oddities, [shard_of("cat.1.jpg", "cat.3.jpg")])
        )
    )
    uploading.start()
    uploading.join(timeout=30)
    if uploading.is_alive():  # unblock it so that the test run can end
        with open(root_with_oddities / "cat.3.jpg", "wb"):
            pass

    assert done == [1]
    contents, reasons = store.uploads["catdog:shard:test-0"]
    assert list(contents) == ["cat.1.jpg"] and "FIFO" in reasons["cat.3.jpg"]


def test_cached_shards_are_not_uploaded(root_with_oddities):
    store = RecordingStore(cached={"catdog:shard:test-0"})
    shards = [shard_of("cat.1.jpg")]

    assert upload_missing_shards(store, root_with_oddities, shards) == 0
    assert store.uploads == {} and "uploaded" not in shards[0]


def test_a_file_over_the_per_file_limit_is_rejected_with_the_limit(root_with_oddities):
    with DataFolder(root_with_oddities) as folder:
        contents, reasons = read_shard_files(folder, shard_of("cat.1.jpg"), 3, LIMIT)

    assert contents == {}
    assert "7 bytes, over the limit of 3 bytes per file" in reasons["cat.1.jpg"]


def test_a_shard_over_the_upload_limit_is_refused_naming_file_and_limit(tmp_path):
    for number in range(3):
        (tmp_path / f"cat.{number}.jpg").write_bytes(b"x" * 10)
    shard = shard_of("cat.0.jpg", "cat.1.jpg", "cat.2.jpg", index=4)

    with DataFolder(tmp_path) as folder, pytest.raises(UploadRefused) as raised:
        read_shard_files(folder, shard, LIMIT, 25)

    message = str(raised.value)
    assert "shard 4" in message and "25 bytes" in message and "cat.2.jpg" in message
    assert "CATDOG_MAX_UPLOAD_BYTES" in message and "--shard-size" in message
    assert isinstance(raised.value, DataError)  # the command line prints it, exit code 2


def test_a_file_the_client_cannot_read_stops_the_upload(tmp_path):
    (tmp_path / "cat.1.jpg").write_bytes(b"x")
    store = RecordingStore()

    with pytest.raises(UploadRefused, match=r"cat\.9\.jpg.*ENOENT"):
        upload_missing_shards(store, tmp_path, [shard_of("cat.1.jpg", "cat.9.jpg")])
    assert store.uploads == {}  # no reason recorded for a file that may come back
