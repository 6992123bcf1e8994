"""Prediction output helpers and safe model loading, without a broker."""

import csv
import json

import numpy as np
import pytest

from catdog_queue.client.output import OutputFolder
from catdog_queue.client.predictions import (
    accuracy_against_names,
    id_sort_key,
    image_id,
    prediction_rows,
    write_csv,
    write_rejected,
)
from catdog_queue.shared.listing import label_of


def test_ids_are_file_stems():
    assert image_id("sub/123.jpg") == "123"
    assert image_id("cat.7.png") == "cat.7"


def test_numeric_ids_sort_numerically_before_names():
    ids = ["10", "b", "2", "1", "a", "100"]
    assert sorted(ids, key=id_sort_key) == ["1", "2", "10", "100", "a", "b"]


def test_rows_are_sorted_by_id_and_keep_their_probabilities():
    rows = prediction_rows(["10.jpg", "9.jpg", "x.png"], [[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]])
    assert [row["id"] for row in rows] == ["9", "10", "x"]
    assert rows[0]["probabilities"] == [0.8, 0.2]


def test_rows_need_one_probability_row_per_path():
    with pytest.raises(ValueError):
        prediction_rows(["1.jpg", "2.jpg"], [[0.5, 0.5]])


def test_csv_holds_the_probability_of_the_last_label(tmp_path):
    rows = prediction_rows(["2.jpg", "1.jpg"], [[0.25, 0.75], [0.9, 0.1]])
    write_csv(rows, OutputFolder(tmp_path), "predictions.csv")
    with open(tmp_path / "predictions.csv", newline="") as csv_file:
        assert list(csv.reader(csv_file)) == [["id", "label"], ["1", "0.100000"], ["2", "0.750000"]]
    assert not list(tmp_path.glob(".*partial"))


def test_rejected_files_are_written_as_json(tmp_path):
    rejected = [{"path": "3.jpg", "reason": "empty file (0 bytes)"}]
    write_rejected(rejected, OutputFolder(tmp_path), "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == rejected


def test_accuracy_against_names_counts_argmax_hits():
    rows = prediction_rows(
        ["cat.1.jpg", "cat.2.jpg", "dog.1.jpg", "dog.2.jpg"],
        [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]],
    )
    assert accuracy_against_names(rows, ["cat", "dog"], label_of) == 0.75


def test_accuracy_is_none_unless_every_name_has_a_known_label():
    rows = prediction_rows(["cat.1.jpg", "5.jpg"], [[0.9, 0.1], [0.4, 0.6]])
    assert accuracy_against_names(rows, ["cat", "dog"], label_of) is None
    rows = prediction_rows(["bird.1.jpg"], [[0.9, 0.1]])
    assert accuracy_against_names(rows, ["cat", "dog"], label_of) is None


def test_predict_shards_keeps_the_catalogue_order_and_checks_the_shape():
    import keras

    from catdog_queue.training.models import make_mlp
    from catdog_queue.training.prediction import predict_shards
    from tests.shard_source import shard_source

    keras.utils.set_random_seed(0)
    model = make_mlp((4, 4, 3), 2)
    pixels = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    catalogue, fetch, fetched = shard_source(pixels, [f"{n}.jpg" for n in range(10)], 4)
    reports = []
    batched = predict_shards(model, catalogue, fetch, 3, lambda done, total: reports.append(done))
    np.testing.assert_allclose(batched, model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-6)
    assert reports[-1] == 10
    assert len(fetched) == 3  # shard by shard, each once
    small, small_fetch, _ = shard_source(pixels[:, :2, :2], [f"{n}.jpg" for n in range(10)], 4)
    with pytest.raises(ValueError, match="takes images of shape"):
        predict_shards(model, small, small_fetch, 3)


def test_safe_loading_refuses_a_lambda_layer(tmp_path):
    import keras

    from catdog_queue.training.prediction import load_model_safely

    inputs = keras.Input(shape=(2,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"(?i)lambda|unsafe|safe_mode"):
        load_model_safely(str(tmp_path / "lambda.keras"))


def test_a_name_of_digits_that_are_not_decimal_sorts_as_a_name():
    # "²".isdigit() is True, but int("²") fails: this used to crash the CSV.
    ids = ["²", "10", "1", "٣"]
    assert sorted(ids, key=id_sort_key) == ["1", "10", "²", "٣"]


def test_files_of_the_same_name_in_two_folders_keep_distinct_ids():
    rows = prediction_rows(["a/1.jpg", "b/1.jpg", "2.jpg"], [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    assert [row["id"] for row in rows] == ["2", "a/1", "b/1"]


def test_a_file_name_that_is_not_utf8_is_written_escaped(tmp_path):
    name = b"\xff\xfe7.jpg".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    rows = prediction_rows([name, "1.jpg"], [[0.5, 0.5], [0.1, 0.9]])
    write_csv(rows, OutputFolder(tmp_path), "predictions.csv")
    lines = (tmp_path / "predictions.csv").read_text(encoding="utf-8").splitlines()
    assert lines == ["id,label", "1,0.900000", "\\xff\\xfe7,0.500000"]
