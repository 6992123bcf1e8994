"""Which folders a worker may read, and telling a worker that sees no files."""

import pytest

from shared.decode import DataFolderMissing, DataRootRefused, require_allowed_root, require_visible


def test_folders_under_an_allowed_root_are_allowed(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    require_allowed_root(str(tmp_path / "data" / "train"), [str(tmp_path / "data")])
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


def test_without_roots_a_worker_reads_nothing(tmp_path):
    with pytest.raises(DataRootRefused, match="CATDOG_DATA_ROOT"):
        require_allowed_root(str(tmp_path), [])


def test_missing_or_empty_folders_ask_for_an_upload(tmp_path):
    with pytest.raises(DataFolderMissing, match="--upload"):
        require_visible(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFolderMissing):
        require_visible(str(tmp_path / "empty"))
    (tmp_path / "empty" / "cat.1.jpg").write_bytes(b"x")
    require_visible(str(tmp_path / "empty"))
