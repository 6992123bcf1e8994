"""Command-line arguments to task options: per-model defaults, compare runs."""

import pytest

from client.cli import build_parser
from client.commands.common import UsageError, training_options
from client.commands.compare import plan_runs


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


def test_non_positive_learning_rates_are_usage_errors():
    with pytest.raises(UsageError, match="must be a positive number"):
        plan_runs(parse("compare", "--data", "d", "--learning-rates", 0.1, -1), ["a", "b"])
    with pytest.raises(UsageError, match="must be a positive number"):
        training_options(parse("train", "--data", "d"), ["a", "b"], "sgd", 0.0)
