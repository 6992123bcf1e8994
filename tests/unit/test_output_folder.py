"""Every file the client writes goes through one folder that refuses paths outside it."""

import os

import pytest

from catdog_queue.client.output import OutputFolder, OutsideOutput
from catdog_queue.shared.metrics import ResultRejected


def test_files_are_written_whole_and_no_partial_file_stays(tmp_path):
    output = OutputFolder(tmp_path / "out")
    path = output.write("metrics.json", b"{}\n")
    assert path == tmp_path / "out" / "metrics.json" and path.read_bytes() == b"{}\n"
    output.write("metrics.json", b"[]\n")  # replaced, not appended
    assert path.read_bytes() == b"[]\n"
    assert [entry.name for entry in (tmp_path / "out").iterdir()] == ["metrics.json"]


def test_a_subfolder_writes_inside_the_same_output(tmp_path):
    run = OutputFolder(tmp_path / "out").subfolder("sgd-0.01")
    assert run.write("model.keras", b"x") == tmp_path / "out" / "sgd-0.01" / "model.keras"
    assert run.root == tmp_path / "out"


@pytest.mark.parametrize(
    "name", ["../escaped", "a/../../escaped", "/tmp/escaped", "", ".", "x\x00y", None, 7]
)
def test_names_that_leave_the_folder_are_refused(tmp_path, name):
    output = OutputFolder(tmp_path / "out")
    with pytest.raises(OutsideOutput):
        output.write(name, b"x")
    with pytest.raises(OutsideOutput):
        output.subfolder(name)
    assert not list(tmp_path.rglob("escaped"))


def test_a_subfolder_cannot_leave_the_root_it_came_from(tmp_path):
    run = OutputFolder(tmp_path / "out").subfolder("run")
    with pytest.raises(OutsideOutput):
        run.write("../../escaped", b"x")
    with pytest.raises(OutsideOutput):
        run.subfolder("..").write("../escaped", b"x")
    assert not (tmp_path / "escaped").exists()


def test_a_link_inside_pointing_outside_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "run").symlink_to(outside)
    (out / "metrics.json").symlink_to(outside / "metrics.json")
    output = OutputFolder(out)
    with pytest.raises(OutsideOutput, match="outside"):
        output.write("run/model.keras", b"x")
    with pytest.raises(OutsideOutput):
        output.subfolder("run")
    with pytest.raises(OutsideOutput):
        output.write("metrics.json", b"x")
    assert list(outside.iterdir()) == []


def test_an_output_folder_that_is_itself_a_link_is_used(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").symlink_to(real)
    OutputFolder(tmp_path / "out").subfolder("run").write("model.keras", b"x")
    assert (real / "run" / "model.keras").read_bytes() == b"x"


def test_a_stale_partial_link_is_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    out = tmp_path / "out"
    out.mkdir()
    (out / ".model.keras.partial").symlink_to(outside)
    OutputFolder(out).write("model.keras", b"x")
    assert not outside.exists()
    assert (out / "model.keras").read_bytes() == b"x"


def test_the_refusal_is_one_line_the_command_line_reports(tmp_path):
    with pytest.raises(ResultRejected) as caught:
        OutputFolder(tmp_path).write("../" + "x" * 5000 + "\n", b"x")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400 + len(str(tmp_path))


def test_an_unwritable_folder_is_an_os_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        OutputFolder(tmp_path / "file").write("model.keras", b"x")
    assert os.listdir(tmp_path) == ["file"]
