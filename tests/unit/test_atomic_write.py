"""shared/atomic_write.py: a file is replaced whole, with the mode asked, and nothing is left."""

import os
import stat

import pytest

from catdog_queue.shared.atomic_write import write_atomically


def test_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    write_atomically(target, b"old")
    assert write_atomically(target, "new text") == target
    assert target.read_text() == "new text"
    assert sorted(path.name for path in target.parent.iterdir()) == ["metrics.json"]


def test_a_secret_is_readable_by_its_owner_only(tmp_path):
    target = write_atomically(tmp_path / "cluster.env", "PASSWORD=x", 0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_exact_mode_ignores_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        target = write_atomically(tmp_path / "redis.conf", "port 6379", 0o644, exact_mode=True)
        plain = write_atomically(tmp_path / "plain.txt", "x", 0o644)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600  # the umask applied


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    target = tmp_path / "out.csv"
    target.symlink_to(outside)
    write_atomically(target, "id,label\n")
    assert (target.is_symlink(), target.read_text(), outside.read_text()) == (
        False,
        "id,label\n",
        "keep",
    )


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = write_atomically(tmp_path / "model.keras", b"old model")
    with pytest.raises(TypeError):
        write_atomically(target, 12345)  # neither bytes nor text: the write fails midway
    assert target.read_bytes() == b"old model"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras"]
