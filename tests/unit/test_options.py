"""Command-line arguments to task options: per-model defaults, compare runs."""

import pytest

from catdog_queue.client.arguments import build_parser
from catdog_queue.client.commands.common import UsageError, training_options
from catdog_queue.client.commands.compare import plan_runs


def parse(*arguments):
    return build_parser().parse_args([str(argument) for argument in arguments])


def test_mlp_defaults_are_the_tutorials():
    options = training_options(parse("train", "--data", "d"), ["cat", "dog"])
    assert (options.model, options.optimizer, options.learning_rate) == (
        "mlp",
        "sgd",
        0.01,
    )
    assert (options.image_size, options.epochs, options.batch_size) == (32, 20, 128)
    assert options.patience is None


def test_cnn_defaults_to_adam_at_64_pixels():
    args = parse("train", "--data", "d", "--model", "cnn")
    options = training_options(args, ["cat", "dog"], args.optimizer, args.learning_rate)
    assert (options.optimizer, options.learning_rate, options.image_size) == (
        "adam",
        0.001,
        64,
    )


def test_explicit_options_win_over_model_defaults():
    args = parse("train", "--data", "d", "--model", "cnn", "--image-size", 48, "--epochs", 3)
    options = training_options(args, ["a", "b"], "rmsprop", 0.5)
    assert (options.image_size, options.epochs) == (48, 3)
    assert (options.optimizer, options.learning_rate) == ("rmsprop", 0.5)


def test_compare_runs_one_per_optimizer_with_its_own_rate():
    runs = plan_runs(parse("compare", "--data", "d"), ["cat", "dog"])
    assert [run["name"] for run in runs] == ["sgd", "rmsprop", "adagrad"]
    rates = {run["name"]: run["options"]["learning_rate"] for run in runs}
    assert rates == {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.01}
    assert {run["options"]["seed"] for run in runs} == {12345}


def test_compare_grid_names_runs_by_rate_and_drops_duplicates():
    args = parse(
        "compare", "--data", "d", "--optimizers", "sgd", "adam", "sgd",
        "--learning-rates", 0.1, 0.01, 0.1,
    )  # fmt: skip
    runs = plan_runs(args, ["cat", "dog"])
    assert [run["name"] for run in runs] == ["sgd-0.1", "sgd-0.01", "adam-0.1", "adam-0.01"]
    assert runs[3]["options"]["optimizer"] == "adam"
    assert runs[3]["options"]["learning_rate"] == 0.01


def test_compare_models_runs_each_model_with_its_own_optimizer_on_one_decoding():
    runs = plan_runs(parse("compare", "--data", "d", "--models", "mlp", "cnn"), ["cat", "dog"])
    assert [run["name"] for run in runs] == ["mlp-sgd", "cnn-adam"]
    options = [run["options"] for run in runs]
    assert [(o["model"], o["optimizer"], o["learning_rate"]) for o in options] == [
        ("mlp", "sgd", 0.01),
        ("cnn", "adam", 0.001),
    ]
    assert [o["epochs"] for o in options] == [20, 25]  # each model's own defaults
    # One decoding for all runs: the largest of the models' own sizes, the same split.
    assert {o["image_size"] for o in options} == {64}
    assert {(o["seed"], o["test_size"]) for o in options} == {(12345, 0.25)}


def test_compare_models_with_optimizers_and_an_image_size_makes_a_grid():
    args = parse("compare", "--data", "d", "--models", "cnn", "mlp",
                 "--optimizers", "sgd", "adam", "--image-size", 16)  # fmt: skip
    runs = plan_runs(args, ["cat", "dog"])
    assert [run["name"] for run in runs] == ["cnn-sgd", "cnn-adam", "mlp-sgd", "mlp-adam"]
    assert {run["options"]["image_size"] for run in runs} == {16}


def test_compare_models_share_the_largest_of_their_image_sizes():
    args = parse("compare", "--data", "d", "--models", "mlp", "mobilenet_v2", "--epochs", 2)
    runs = plan_runs(args, ["cat", "dog"])
    assert [run["name"] for run in runs] == ["mlp-sgd", "mobilenet_v2-adam"]
    assert {run["options"]["image_size"] for run in runs} == {160}


def test_compare_with_a_single_model_keeps_the_optimizer_names():
    args = parse("compare", "--data", "d", "--models", "cnn", "--optimizers", "sgd", "adam")
    runs = plan_runs(args, ["cat", "dog"])
    assert [run["name"] for run in runs] == ["sgd", "adam"]
    assert {run["options"]["model"] for run in runs} == {"cnn"}


def test_non_positive_learning_rates_are_usage_errors():
    with pytest.raises(UsageError, match="must be a positive number"):
        plan_runs(parse("compare", "--data", "d", "--learning-rates", 0.1, -1), ["a", "b"])
    with pytest.raises(UsageError, match="must be a positive number"):
        training_options(parse("train", "--data", "d"), ["a", "b"], "sgd", 0.0)


def test_data_mode_weights_and_fine_tune_reach_the_options(tmp_path):
    args = parse("train", "--data", "d", "--model", "mobilenet_v2", "--data-mode", "stream",
                 "--weights", "none", "--fine-tune", 3)  # fmt: skip
    options = training_options(args, ["cat", "dog"], args.optimizer, args.learning_rate)
    assert (options.data_mode, options.weights, options.fine_tune) == ("stream", "none", 3)
    assert options.learning_rate == pytest.approx(0.0001)  # fine-tuning: a tenth
    assert training_options(parse("train", "--data", "d"), ["a", "b"]).data_mode == "auto"
    with pytest.raises(SystemExit):
        parse("train", "--data", "d", "--data-mode", "disk")


def test_a_weights_file_becomes_its_digest_and_kind(tmp_path):
    import hashlib

    import h5py

    with h5py.File(tmp_path / "backbone.weights.h5", "w") as weights_file:
        weights_file.attrs["x"] = 1
    args = parse("train", "--data", "d", "--model", "efficientnet_b0",
                 "--weights", tmp_path / "backbone.weights.h5")  # fmt: skip
    options = training_options(args, ["cat", "dog"])
    digest = hashlib.sha256((tmp_path / "backbone.weights.h5").read_bytes()).hexdigest()
    assert options.weights == f"sha256:{digest}.weights.h5"
    (tmp_path / "plain.txt").write_text("x")
    for given, message in [(tmp_path / "missing.h5", "no such file"),
                           (tmp_path / "plain.txt", "not an HDF5 weights file")]:  # fmt: skip
        with pytest.raises(UsageError, match=message):
            training_options(parse("train", "--data", "d", "--model", "mobilenet_v2",
                                   "--weights", given), ["a", "b"])  # fmt: skip
    with pytest.raises(UsageError, match="apply to the pretrained models"):
        training_options(parse("train", "--data", "d", "--weights", "none", "--fine-tune", 2),
                         ["a", "b"])  # fmt: skip
