"""The README says what the code does: its tables name what the code declares."""

import dataclasses
import re
from pathlib import Path

from catdog_queue.client.arguments import build_parser
from catdog_queue.shared.metrics import JOB_FIELDS
from catdog_queue.shared.options import TrainingOptions

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_metrics_field_is_in_the_readme():
    missing = [name for name in JOB_FIELDS if f"`{name}`" not in README]
    assert missing == []


def test_every_setting_read_from_the_environment_is_in_the_settings_table():
    code = "".join(
        path.read_text() for path in (Path(__file__).resolve().parents[2] / "shared").glob("*.py")
    )
    variables = set(re.findall(r'"((?:CATDOG|GPU)_[A-Z_]+)"', code))
    variables -= {name for name in variables if name.startswith("CATDOG_REDIS_")}  # redis_acl
    missing = sorted(name for name in variables if f"| `{name}` |" not in README)
    assert missing == []


def test_every_train_option_is_in_the_readme():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {option for action in train._actions for option in action.option_strings}
    options -= {"-h", "--help"}
    missing = sorted(option for option in options if f"`{option}" not in README)
    assert missing == []


def test_every_test_the_readme_names_exists():
    tests = Path(__file__).resolve().parents[1]
    code = "".join(path.read_text() for path in tests.rglob("test_*.py"))
    # Metrics fields and options that begin with test_ (test_accuracy, test_size) are not tests.
    fields = set(JOB_FIELDS) | {field.name for field in dataclasses.fields(TrainingOptions)}
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", README)) - fields
    missing = sorted(name for name in named if f"def {name}" not in code)
    assert named and missing == []


def test_every_status_phase_is_in_the_readme():
    from catdog_queue.client.job_status import PHASES

    missing = [phase for phase in PHASES if f"`{phase}`" not in README]
    assert PHASES and missing == []


def test_every_state_a_worker_reports_has_a_phase():
    from catdog_queue.client.job_status import PREPARING_STATES, RUNNING_STATES

    workers = Path(__file__).resolve().parents[2] / "workers"
    code = "".join(path.read_text() for path in workers.glob("*.py"))
    reported = set(re.findall(r'update_state\([^)]*?\bstate="([A-Z]+)"', code))
    # DECODING belongs to decode tasks, which status counts as shards, not as a phase.
    unnamed = sorted(reported - set(PREPARING_STATES) - set(RUNNING_STATES) - {"DECODING"})
    assert "TRAINING" in reported and unnamed == []


def test_docker_readme_quotes_the_default_user_line_redis_acl_writes():
    from catdog_queue.shared import redis_acl

    docker_readme = (Path(__file__).resolve().parents[2] / "docker" / "README.md").read_text()
    quoted = set(re.findall(r"`(user default [^`]*)`", docker_readme))
    assert quoted == {redis_acl.DEFAULT_USER}
    assert redis_acl.acl_lines({role: "p" * 16 for role in redis_acl.ROLES})[0] == (
        redis_acl.DEFAULT_USER
    )


def _train_table() -> dict[str, str]:
    """``{option: its documented default}`` from the README's train options table."""
    section = README.split("## `submit.py train` options", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for row in re.findall(r"^\| (`--.*?) \| (.*?) \|", section, re.MULTILINE):
        options = re.findall(r"`(--[a-z-]+)", row[0])
        # A row of two options gives two defaults, in order: "`imagenet`, 0".
        defaults = [part.strip() for part in row[1].split(", ")] if len(options) > 1 else [row[1]]
        assert len(defaults) == len(options), row
        documented.update(zip(options, defaults, strict=True))
    return documented


def _train_actions() -> dict:
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return {
        option: action
        for action in train._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def _code_default(action):
    """What the option means when left out: its own default, else the mlp's (the default model)."""
    import argparse

    from catdog_queue.shared.options import BACKBONES

    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if action.default is not None:
        return action.default
    fields = {field.name for field in dataclasses.fields(TrainingOptions)}
    if action.dest not in fields or action.dest == "learning_rate":
        return None  # a description, not a value: "per optimizer", "none", a path
    # --weights and --fine-tune apply to the backbones only, so their default is a backbone's.
    model = BACKBONES[0] if action.dest in ("weights", "fine_tune") else "mlp"
    return getattr(TrainingOptions.for_model(["cat", "dog"], model), action.dest)


def test_the_train_options_table_and_the_parser_agree_both_ways():
    documented, actions = _train_table(), _train_actions()
    assert sorted(set(documented) - set(actions)) == []  # documented, but no such option
    assert sorted(set(actions) - set(documented)) == []  # an option without a row


def _same(shown: str, expected) -> bool:
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return re.fullmatch(r"[0-9.]+", shown) is not None and float(shown) == expected
    return shown == str(expected)


def test_every_documented_train_default_is_the_codes():
    wrong = {}
    for option, text in _train_table().items():
        expected = _code_default(_train_actions()[option])
        # The default model's value comes first: "20 (25 for `cnn`, ...)", "`sgd` (...)".
        shown = text.split(" (")[0].strip("`")
        if expected is None:
            literal = re.fullmatch(r"[0-9.]+|`[a-z_0-9]+`", text.split(" (")[0])
            if literal:
                wrong[option] = (text, "the code has no single default")
        elif not _same(shown, expected):
            wrong[option] = (text, expected)
    assert wrong == {}


def test_every_option_of_every_command_is_in_the_readme():
    commands = build_parser()._subparsers._group_actions[0].choices
    missing = sorted(
        f"{name} {option}"
        for name, command in commands.items()
        for action in command._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and f"`{option}" not in README
    )
    assert missing == []


def test_compare_takes_trains_options_but_its_own_optimizers_rates_and_models():
    commands = build_parser()._subparsers._group_actions[0].choices
    train, compare = (
        {option for action in commands[name]._actions for option in action.option_strings}
        for name in ("train", "compare")
    )
    assert train - compare == {"--optimizer", "--learning-rate", "--predict"}
    assert compare - train == {"--optimizers", "--learning-rates", "--models"}


def _settings_table() -> dict[str, str]:
    section = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([A-Z_]+)` \| (.*?) \|", section, re.MULTILINE))


def _settings_defaults() -> dict:
    """``{variable: default}`` of every number ``shared/settings.py`` reads from the environment."""
    import ast

    from catdog_queue.shared import settings

    tree = ast.parse(Path(settings.__file__).read_text())
    defaults = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") in ("_whole_number_from_env", "_float_from_env")
            and isinstance(node.args[0], ast.Constant)
        ):
            default = node.args[1]
            defaults[node.args[0].value] = (
                getattr(settings, default.id) if isinstance(default, ast.Name) else default.value
            )
    return defaults


def test_every_documented_setting_is_read_by_the_code():
    root = Path(__file__).resolve().parents[2]
    code = (
        "".join(
            path.read_text()
            for folder in ("shared", "client", "workers", "jobs")
            for path in (root / folder).rglob("*.py")
        )
        + (root / "celeryconfig.py").read_text()
    )
    unread = sorted(name for name in _settings_table() if f'"{name}"' not in code)
    assert unread == []


def test_every_documented_number_setting_default_is_the_codes():
    documented, defaults = _settings_table(), _settings_defaults()
    assert "CATDOG_LOCK_TTL_S" in defaults and len(defaults) >= 10
    wrong = {}
    for name, default in defaults.items():
        number = re.match(r"[0-9]+(?:\.[0-9]+)?", documented.get(name, ""))
        # A default the README gives in words ("none (memory growth)") is a conditional one.
        if number and float(number.group()) != default:
            wrong[name] = (documented[name], default)
    assert wrong == {}
