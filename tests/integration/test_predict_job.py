"""``submit.py predict`` and ``train --predict`` through the real cluster."""

import csv
import json
import shutil

import pytest

from tests.images import make_separable_folders, make_separable_images
from tests.integration.conftest import run_submit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained_run(cluster, tmp_path_factory):
    """A tiny model trained on generated red cats and blue dogs."""
    folder = tmp_path_factory.mktemp("trained")
    make_separable_images(folder / "data", per_label=30)
    arguments = ["train", "--data", folder / "data", "--out", folder / "run", "--epochs", 8]
    arguments += ["--batch-size", 16, "--image-size", 8]
    process = run_submit(arguments, cluster_environment(cluster))
    assert process.returncode == 0, process.stderr
    return folder / "run"


def cluster_environment(cluster):
    from tests.integration.conftest import clean_environment

    return clean_environment() | cluster.environment()


def unlabelled_folder(folder, count: int):
    """``1.jpg`` .. ``N.jpg`` (and ``N.png``) like Kaggle's test1/, half cats, half dogs."""
    make_separable_images(folder / "source", per_label=count // 2, seed=7)
    (folder / "test1").mkdir()
    for number, source in enumerate(sorted((folder / "source").iterdir()), start=1):
        shutil.copy(source, folder / "test1" / f"{number}{source.suffix}")
    return folder / "test1"


def read_rows(path):
    with open(path, newline="") as csv_file:
        return list(csv.reader(csv_file))


def test_predicts_every_decodable_image_sorted_by_numeric_id(cluster, trained_run, tmp_path):
    data = unlabelled_folder(tmp_path, 24)
    (data / "25.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (data / "notes.txt").write_text("not an image")
    out = tmp_path / "out" / "predictions.csv"
    arguments = ["predict", "--model", trained_run / "model.keras", "--data", data, "--out", out]
    process = run_submit(arguments, cluster_environment(cluster))
    assert process.returncode == 0, process.stderr
    rows = read_rows(out)
    assert rows[0] == ["id", "label"]
    assert [row[0] for row in rows[1:]] == [str(number) for number in range(1, 25)]
    probabilities = [float(row[1]) for row in rows[1:]]
    assert all(0.0 <= probability <= 1.0 for probability in probabilities)
    # Files 1-12 are reddish cats, 13-24 bluish dogs: the dog probability tells them apart.
    assert max(probabilities[:12]) < 0.5 < min(probabilities[12:])
    rejected = json.loads((tmp_path / "out" / "predictions.rejected.json").read_text())
    assert {item["path"] for item in rejected} == {"25.jpg", "notes.txt"}
    assert "25.jpg" in process.stdout and "2 rejected" in process.stdout
    assert (tmp_path / "out" / "predictions.png").read_bytes().startswith(b"\x89PNG")


def test_labelled_folder_reports_accuracy_against_names(cluster, trained_run, tmp_path):
    make_separable_images(tmp_path / "labelled", per_label=10, seed=3)
    out = tmp_path / "predictions.csv"
    arguments = ["predict", "--model", trained_run / "model.h5", "--data", tmp_path / "labelled"]
    arguments += ["--tta", "flip"]  # colours are the same in a mirror: still every one right
    process = run_submit([*arguments, "--out", out], cluster_environment(cluster))
    assert process.returncode == 0, process.stderr
    assert "accuracy against file names 1.0000" in process.stdout
    ids = [row[0] for row in read_rows(out)[1:]]
    assert ids == sorted(ids) and len(ids) == 20 and ids[0] == "cat.0"


def test_train_with_predict_writes_predictions_into_the_run(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    test1 = unlabelled_folder(tmp_path, 10)
    arguments = ["train", "--data", tmp_path / "data", "--predict", test1, "--epochs", 8]
    arguments += ["--batch-size", 8, "--image-size", 8, "--out", tmp_path / "run"]
    process = run_submit(arguments, cluster_environment(cluster))
    assert process.returncode == 0, process.stderr
    rows = read_rows(tmp_path / "run" / "predictions.csv")
    assert len(rows) == 11
    assert [float(row[1]) < 0.5 for row in rows[1:]] == [True] * 5 + [False] * 5
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["images_used"] == 40  # the predicted folder never joins training
    assert metrics["timings"]["predict_s"] >= 0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not a model at all", "is not a Keras model"),
        (b"PK\x05\x06" + b"\x00" * 18, "not a Keras model"),
    ],
)
def test_a_file_that_is_not_a_model_is_a_usage_error(tmp_path, content, fragment):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "1.jpg").write_bytes(b"")
    (tmp_path / "model.keras").write_bytes(content)
    process = run_submit(
        ["predict", "--model", tmp_path / "model.keras", "--data", tmp_path / "data"]
    )
    assert process.returncode == 2, process.stderr
    assert process.stderr.strip().splitlines()[-1].startswith("error: ")
    assert fragment in process.stderr and "Traceback" not in process.stderr


def test_a_keras_model_without_metadata_is_a_usage_error(trained_run, tmp_path):
    import zipfile

    stripped = tmp_path / "model.keras"
    with zipfile.ZipFile(trained_run / "model.keras") as source:
        with zipfile.ZipFile(stripped, "w") as target:
            for name in source.namelist():
                if name != "catdog.json":
                    target.writestr(name, source.read(name))
    (tmp_path / "data").mkdir()
    process = run_submit(["predict", "--model", stripped, "--data", tmp_path / "data"])
    assert process.returncode == 2
    assert "lacks catdog metadata" in process.stderr and "Traceback" not in process.stderr


def test_keras_folder_layout_trains_and_predicts_with_folder_labels(cluster, tmp_path):
    make_separable_folders(tmp_path / "train", per_label=20)
    make_separable_folders(tmp_path / "check", per_label=6, seed=3)
    environment = cluster_environment(cluster)
    trained = run_submit(["train", "--data", tmp_path / "train", "--epochs", 8, "--batch-size", 8,
                          "--image-size", 8, "--out", tmp_path / "run"], environment)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "labels from folder names" in trained.stderr.splitlines()[0]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["labels"] == ["cat", "dog"] and metrics["layout"] == "folders"
    assert metrics["images_used"] == 40 and metrics["test_accuracy"] >= 0.9

    out = tmp_path / "predictions.csv"
    predicted = run_submit(["predict", "--model", tmp_path / "run" / "model.keras",
                            "--data", tmp_path / "check", "--out", out], environment)  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    assert "accuracy against file names 1.0000" in predicted.stdout
    ids = [row[0] for row in read_rows(out)[1:]]
    assert len(ids) == len(set(ids)) == 12  # cat/0 and dog/0 keep distinct ids
