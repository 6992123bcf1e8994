"""The typed options on the command line (train, compare, predict), built from their one
declaration: each default is the field's own in ``shared.options``, each help text, choice
and value check is ``shared.option_declarations``'s; nothing of them is written here."""

import argparse
from dataclasses import fields

from catdog_queue.client.argument_types import CONVERTERS
from catdog_queue.shared.option_declarations import (
    PREDICT_COMMAND_LINE,
    TRAINING_COMMAND_LINE,
    CommandLineOption,
)
from catdog_queue.shared.options import PredictOptions, TrainingOptions

# compare sweeps these as grids of its own (--optimizers, --learning-rates): train takes one each.
SINGLE_RUN_OPTIONS = ("optimizer", "learning_rate")


def add_single_run_options(train: argparse.ArgumentParser) -> None:
    _add_declared(train, TrainingOptions, TRAINING_COMMAND_LINE, SINGLE_RUN_OPTIONS)


def add_training_options(command: argparse.ArgumentParser) -> None:
    """The options every training job takes, train and compare alike."""
    names = [name for name in TRAINING_COMMAND_LINE if name not in SINGLE_RUN_OPTIONS]
    _add_declared(command, TrainingOptions, TRAINING_COMMAND_LINE, names)


def add_predict_options(predict: argparse.ArgumentParser) -> None:
    _add_declared(predict, PredictOptions, PREDICT_COMMAND_LINE, list(PREDICT_COMMAND_LINE))


def option_flag(name: str) -> str:
    """``learning_rate`` -> ``--learning-rate``, the reverse of argparse's ``dest``."""
    return "--" + name.replace("_", "-")


def _add_declared(command, options_class, declarations: dict, names) -> None:
    defaults = {field.name: field.default for field in fields(options_class)}
    for name in names:
        keywords = _argparse_keywords(declarations[name], defaults[name])
        command.add_argument(option_flag(name), **keywords)


def _argparse_keywords(declared: CommandLineOption, default) -> dict:
    # argparse formats help texts with %: a literal one ("10% of") must be doubled.
    keywords = {"help": declared.help.replace("%", "%%")}
    if isinstance(default, bool):  # a switch, off unless given
        return keywords | {"action": "store_true"}
    return keywords | {
        "default": None if declared.per_model else default,
        "choices": declared.choices,
        "type": CONVERTERS[declared.type] if declared.type else None,
        "metavar": declared.metavar,
    }
