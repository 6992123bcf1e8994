"""Each typed option is declared once: its default in shared.options, its help, choices and
check in shared.option_declarations; the argparse layer only loops over them."""

import ast
import dataclasses
from pathlib import Path

import pytest

from catdog_queue.client import arguments, training_arguments
from catdog_queue.client.argument_types import CONVERTERS
from catdog_queue.client.arguments import build_parser
from catdog_queue.client.training_arguments import SINGLE_RUN_OPTIONS, option_flag
from catdog_queue.shared.option_declarations import PREDICT_COMMAND_LINE, TRAINING_COMMAND_LINE
from catdog_queue.shared.options import PredictOptions, TrainingOptions

# (command, its typed options, the declarations it takes)
COMMANDS = [
    ("train", TrainingOptions, TRAINING_COMMAND_LINE),
    ("compare", TrainingOptions, TRAINING_COMMAND_LINE),
    ("predict", PredictOptions, PREDICT_COMMAND_LINE),
]


def declared_for(command: str, declarations: dict) -> dict:
    if command == "compare":  # its grids replace train's single optimizer and rate
        return {name: d for name, d in declarations.items() if name not in SINGLE_RUN_OPTIONS}
    return declarations


def actions_of(command: str) -> dict:
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    return {action.dest: action for action in parser._actions}


def help_of(command: str) -> str:
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    return " ".join(parser.format_help().split())


@pytest.mark.parametrize(("command", "options_class", "declarations"), COMMANDS)
def test_every_typed_option_on_the_command_line_is_declared(command, options_class, declarations):
    field_names = {field.name for field in dataclasses.fields(options_class)}
    assert set(declarations) <= field_names
    exposed = set(actions_of(command)) & field_names
    assert exposed == set(declared_for(command, declarations))


@pytest.mark.parametrize(("command", "options_class", "declarations"), COMMANDS)
def test_each_option_is_what_its_declaration_and_field_say(command, options_class, declarations):
    defaults = {field.name: field.default for field in dataclasses.fields(options_class)}
    actions = actions_of(command)
    for name, declared in declared_for(command, declarations).items():
        action = actions[name]
        assert action.option_strings == [option_flag(name)]
        assert action.help % {} == declared.help  # argparse's %% is a literal %
        expected_default = None if declared.per_model else defaults[name]
        assert action.default == expected_default, name
        assert action.choices == declared.choices, name
        assert action.type == (CONVERTERS[declared.type] if declared.type else None), name
        assert action.metavar == declared.metavar, name


def test_the_per_model_options_are_left_to_the_model():
    per_model = sorted(
        name for name, declared in TRAINING_COMMAND_LINE.items() if declared.per_model
    )
    assert per_model == [
        "epochs",
        "fine_tune",
        "image_size",
        "learning_rate",
        "optimizer",
        "schedule",
        "weights",
    ]
    assert actions_of("train")["patience"].default is None  # no early stopping unless asked


def test_a_changed_declaration_changes_the_parser(monkeypatch):
    seed = TRAINING_COMMAND_LINE["seed"]
    changed = dataclasses.replace(seed, help="a help text said in one place only")
    monkeypatch.setitem(TRAINING_COMMAND_LINE, "seed", changed)
    monkeypatch.setitem(
        PREDICT_COMMAND_LINE,
        "tta",
        dataclasses.replace(PREDICT_COMMAND_LINE["tta"], choices=("none", "flip", "rotate")),
    )
    monkeypatch.setattr(TrainingOptions.__dataclass_fields__["batch_size"], "default", 64)
    for command in ("train", "compare"):
        assert "a help text said in one place only" in help_of(command)
        assert actions_of(command)["batch_size"].default == 64
    assert actions_of("predict")["tta"].choices == ("none", "flip", "rotate")


def _calls(path: Path):
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def test_training_arguments_writes_no_help_default_or_choice():
    path = Path(training_arguments.__file__)
    keywords = {keyword.arg for call in _calls(path) for keyword in call.keywords}
    assert keywords & {"help", "default", "choices", "type", "metavar", "action"} == set()
    flags = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and str(node.value).startswith("--")
    ]
    # The one "--" left is option_flag's, which makes every flag from its field's name.
    assert flags == ["--"]


def test_arguments_adds_no_declared_option_by_hand():
    declared = {option_flag(name) for name in (*TRAINING_COMMAND_LINE, *PREDICT_COMMAND_LINE)}
    tree = ast.parse(Path(arguments.__file__).read_text())
    by_hand = {
        (function.name, call.args[0].value)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for call in ast.walk(function)
        if isinstance(call, ast.Call)
        and getattr(call.func, "attr", "") == "add_argument"
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value in declared
    }
    # predict's --model is the trained model's file, not TrainingOptions.model.
    assert by_hand == {("_add_predict", "--model")}


def test_the_data_mode_help_quotes_the_memory_budget_the_settings_default_to(monkeypatch):
    from catdog_queue.shared.settings import DEFAULT_MEMORY_BUDGET_MB, memory_budget_bytes

    monkeypatch.delenv("CATDOG_MEMORY_BUDGET_MB", raising=False)
    assert f"({DEFAULT_MEMORY_BUDGET_MB})" in TRAINING_COMMAND_LINE["data_mode"].help
    assert memory_budget_bytes() == DEFAULT_MEMORY_BUDGET_MB * 2**20
