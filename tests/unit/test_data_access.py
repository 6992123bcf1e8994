"""Which folders a worker may read, and reading one file there without escaping."""

import os
import socket
import threading

import pytest

from catdog_queue.shared.data_access import (
    DataFolder,
    DataFolderMissing,
    DataRootRefused,
    FileUnreadable,
    ImageRejected,
    require_allowed_root,
    require_visible,
)

LIMIT = 1 << 20


def test_folders_under_an_allowed_root_are_allowed(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    allowed = require_allowed_root(str(tmp_path / "data" / "train"), [str(tmp_path / "data")])
    assert allowed == str(tmp_path / "data")
    require_allowed_root(str(tmp_path / "data"), [str(tmp_path / "other"), str(tmp_path / "data")])


@pytest.mark.parametrize("asked", ["/etc", "{root}/../outside", "{root}-sibling"])
def test_folders_outside_every_root_are_refused(tmp_path, asked):
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(DataRootRefused, match="outside the folders this worker may read"):
        require_allowed_root(asked.format(root=root), [str(root)])


def test_a_link_out_of_the_root_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "escape").symlink_to("/etc")
    with pytest.raises(DataRootRefused):
        require_allowed_root(str(tmp_path / "data" / "escape"), [str(tmp_path / "data")])
    with pytest.raises(DataRootRefused):
        DataFolder(tmp_path / "data" / "escape", [str(tmp_path / "data")])


def test_without_roots_a_worker_reads_nothing(tmp_path):
    with pytest.raises(DataRootRefused, match="CATDOG_DATA_ROOT"):
        require_allowed_root(str(tmp_path), [])
    with pytest.raises(DataRootRefused, match="CATDOG_DATA_ROOT"):
        DataFolder(tmp_path, [])


def test_missing_or_empty_folders_ask_for_an_upload(tmp_path):
    with pytest.raises(DataFolderMissing, match="--upload"):
        require_visible(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFolderMissing):
        require_visible(str(tmp_path / "empty"))
    (tmp_path / "empty" / "cat.1.jpg").write_bytes(b"x")
    require_visible(str(tmp_path / "empty"))


# --- DataFolder.read --------------------------------------------------------------


@pytest.fixture
def root_and_outside(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "cat.1.jpg").write_bytes(b"inside")
    (root / "cat.0.jpg").write_bytes(b"top")
    outside = tmp_path / "data-evil"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"outside")
    return root, outside


def read(root, relative_path, allowed_roots=None, max_bytes=LIMIT):
    with DataFolder(root, allowed_roots) as folder:
        return folder.read(relative_path, max_bytes)


def rejection(root, relative_path) -> str:
    with pytest.raises(ImageRejected) as raised:
        read(root, relative_path)
    return str(raised.value)


def test_reads_files_in_the_root_and_below(root_and_outside):
    root, _ = root_and_outside
    with DataFolder(root, [str(root.parent)]) as folder:
        assert folder.read("cat.0.jpg", LIMIT) == b"top"
        assert folder.read(os.path.join("sub", "cat.1.jpg"), LIMIT) == b"inside"
        assert folder.read("cat.0.jpg", LIMIT) == b"top"  # back up from the subfolder


def test_reads_through_a_linked_root(tmp_path, root_and_outside):
    # The root itself may be a link (a mount point, /data -> /mnt/data); nothing below it.
    root, _ = root_and_outside
    (tmp_path / "link-to-data").symlink_to(root)
    assert read(tmp_path / "link-to-data", "sub/cat.1.jpg", [str(tmp_path)]) == b"inside"


def test_a_link_to_outside_is_rejected(root_and_outside):
    root, outside = root_and_outside
    (root / "cat.2.jpg").symlink_to(outside / "secret.jpg")
    assert "outside the data folder" in rejection(root, "cat.2.jpg")
    assert "symbolic link" in rejection(root, "cat.2.jpg")


def test_a_link_that_stays_inside_is_not_followed_either(root_and_outside):
    root, _ = root_and_outside
    (root / "dog.1.jpg").symlink_to(root / "sub" / "cat.1.jpg")
    assert "symbolic link" in rejection(root, "dog.1.jpg")


def test_a_linked_folder_is_not_followed(root_and_outside):
    root, outside = root_and_outside
    (root / "more").symlink_to(outside, target_is_directory=True)
    reason = rejection(root, "more/secret.jpg")
    assert "folder that is a symbolic link" in reason


@pytest.mark.parametrize(
    "relative_path",
    ["../data-evil/secret.jpg", "sub/../../data-evil/secret.jpg", "..", "/etc/passwd", ""],
)
def test_paths_that_leave_the_root_are_rejected(root_and_outside, relative_path):
    root, _ = root_and_outside
    assert rejection(root, relative_path) == "resolves outside the data folder"


@pytest.mark.parametrize("relative_path", ["cat\x00.jpg", "sub\x00/cat.1.jpg", "\x00"])
def test_nul_bytes_in_names_are_rejected(root_and_outside, relative_path):
    root, _ = root_and_outside
    assert rejection(root, relative_path) == "a NUL byte in the file name"


def test_a_fifo_is_rejected_without_blocking(root_and_outside):
    root, _ = root_and_outside
    os.mkfifo(root / "cat.3.jpg")
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(rejection(root, "cat.3.jpg")))
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the open so that the test run can end
        with open(root / "cat.3.jpg", "wb"):
            pass
    assert outcome and "FIFO" in outcome[0] and "not a regular file" in outcome[0]


def test_a_folder_and_a_socket_are_rejected(root_and_outside, tmp_path):
    root, _ = root_and_outside
    (root / "cat.4.jpg").mkdir()
    assert rejection(root, "cat.4.jpg") == "a folder, not a regular file"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(root / "cat.5.jpg"))
        assert rejection(root, "cat.5.jpg") == "a socket, not a regular file"


def test_files_over_the_limit_are_rejected_unread(root_and_outside):
    root, _ = root_and_outside
    (root / "cat.6.jpg").write_bytes(b"x" * 101)
    with pytest.raises(ImageRejected, match="101 bytes, over the limit of 100 bytes per file"):
        read(root, "cat.6.jpg", max_bytes=100)
    assert read(root, "cat.6.jpg", max_bytes=101) == b"x" * 101


def test_a_hard_link_is_read_as_the_same_file(root_and_outside):
    # Accepted on purpose: see the module's docstring.
    root, _ = root_and_outside
    os.link(root / "cat.0.jpg", root / "cat.7.jpg")
    assert read(root, "cat.7.jpg") == b"top"


def test_a_missing_file_is_the_machines_problem_not_a_rejection(root_and_outside):
    root, _ = root_and_outside
    with pytest.raises(FileUnreadable) as raised:
        read(root, "sub/cat.404.jpg")
    message = str(raised.value)
    assert "sub/cat.404.jpg" in message and "ENOENT" in message
    with pytest.raises(FileUnreadable, match="ENOENT"):
        read(root, "gone/cat.1.jpg")  # a folder missing on this machine


READ_CAT_1 = """
import sys
from catdog_queue.shared.data_access import DataFolder, FileUnreadable
become_nobody()
try:
    with DataFolder(sys.argv[1]) as folder:
        print(folder.read("cat.1.jpg", 1 << 20))
except FileUnreadable as error:
    print("unreadable:", error)
"""


def test_permission_denied_is_the_machines_problem(folder_nobody_can_reach, run_as_nobody):
    root = folder_nobody_can_reach
    (root / "cat.1.jpg").write_bytes(b"pixels")
    os.chmod(root / "cat.1.jpg", 0)

    first = run_as_nobody(READ_CAT_1, root)

    assert first.startswith("unreadable:") and "EACCES" in first and "cat.1.jpg" in first
    os.chmod(root / "cat.1.jpg", 0o644)  # fixed: now it reads
    assert run_as_nobody(READ_CAT_1, root).strip() == "b'pixels'"
