"""The command line refuses what it would otherwise ignore or silently change."""

import pytest

from catdog_queue.client.arguments import build_parser
from catdog_queue.client.queue_watch import DEFAULT_WAIT_TIMEOUT_S
from catdog_queue.shared.options import BACKBONES


def parse(*arguments):
    return build_parser().parse_args([str(argument) for argument in arguments])


def subcommand(name):
    return build_parser()._subparsers._group_actions[0].choices[name]


@pytest.mark.parametrize("option", ["--shard-size", "--worker-data-dir"])
def test_resume_refuses_options_the_record_decides(option, capsys):
    # The job's record holds its shards and data folders; resume once took these and ignored them.
    with pytest.raises(SystemExit) as exit_info:
        parse("resume", "20261203-120000-abcdef", option, "7")
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {option} 7" in capsys.readouterr().err


def test_resume_takes_where_the_cluster_is():
    args = parse("resume", "20261203-120000-abcdef", "--broker", "redis://h", "--wait-timeout", 5)
    assert (args.broker, args.wait_timeout, args.cache_dir) == ("redis://h", 5.0, None)


@pytest.mark.parametrize("value", ["0", "-1", "-0.5", "nan"])
def test_wait_timeout_of_zero_or_less_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse("train", "--data", "d", "--wait-timeout", value)
    assert exit_info.value.code == 2
    assert f"must be a number of seconds above 0, received {value}" in capsys.readouterr().err


def test_wait_timeout_keeps_what_was_given_and_defaults_to_120():
    assert parse("train", "--data", "d", "--wait-timeout", "0.5").wait_timeout == 0.5
    assert parse("predict", "--model", "m", "--data", "d").wait_timeout == DEFAULT_WAIT_TIMEOUT_S
    assert DEFAULT_WAIT_TIMEOUT_S == 120.0


def test_data_help_names_both_layouts():
    for command in ("train", "compare"):
        text = subcommand(command).format_help()
        assert "LABEL.N.jpg files, or one subfolder per label" in " ".join(text.split())


@pytest.mark.parametrize("option", ["--optimizer", "--schedule"])
def test_optimizer_and_schedule_help_name_every_models_default(option):
    action = next(a for a in subcommand("train")._actions if option in a.option_strings)
    for model in ("mlp", "cnn", *BACKBONES):
        assert model in action.help


def test_predict_help_says_worker_data_dir_is_for_data_only():
    action = next(a for a in subcommand("train")._actions if "--predict" in a.option_strings)
    assert "--worker-data-dir applies to --data only" in action.help


def test_defaults_and_choices_are_the_typed_options():
    from dataclasses import fields

    from catdog_queue.shared.options import (
        DATA_MODES,
        DEVICES,
        MODELS,
        PredictOptions,
        TrainingOptions,
    )

    declared = {field.name: field.default for field in fields(TrainingOptions)}
    actions = {action.dest: action for action in subcommand("train")._actions}
    given = {dest: action.default for dest, action in actions.items() if action.default}
    shared_names = sorted(set(given) & set(declared))
    assert shared_names == [
        "batch_size",
        "data_mode",
        "device",
        "model",
        "seed",
        "test_size",
        "tta",
    ]
    assert {name: given[name] for name in shared_names} == {
        name: declared[name] for name in shared_names
    }
    assert actions["device"].choices == DEVICES and actions["model"].choices == MODELS
    assert actions["data_mode"].choices == DATA_MODES
    predict_batch = next(a for a in subcommand("predict")._actions if a.dest == "batch_size")
    assert predict_batch.default == PredictOptions.__dataclass_fields__["batch_size"].default
