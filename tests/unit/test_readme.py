"""The README says what the code does: its tables name what the code declares."""

import dataclasses
import re
from pathlib import Path

from client.arguments import build_parser
from shared.metrics import JOB_FIELDS
from shared.options import TrainingOptions

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
    from client.job_status import PHASES

    missing = [phase for phase in PHASES if f"`{phase}`" not in README]
    assert PHASES and missing == []


def test_every_state_a_worker_reports_has_a_phase():
    from client.job_status import PREPARING_STATES, RUNNING_STATES

    workers = Path(__file__).resolve().parents[2] / "workers"
    code = "".join(path.read_text() for path in workers.glob("*.py"))
    reported = set(re.findall(r'update_state\(state="([A-Z]+)"', code))
    # DECODING belongs to decode tasks, which status counts as shards, not as a phase.
    unnamed = sorted(reported - set(PREPARING_STATES) - set(RUNNING_STATES) - {"DECODING"})
    assert "TRAINING" in reported and unnamed == []


def test_docker_readme_quotes_the_default_user_line_redis_acl_writes():
    from shared import redis_acl

    docker_readme = (Path(__file__).resolve().parents[2] / "docker" / "README.md").read_text()
    quoted = set(re.findall(r"`(user default [^`]*)`", docker_readme))
    assert quoted == {redis_acl.DEFAULT_USER}
    assert redis_acl.acl_lines({role: "p" * 16 for role in redis_acl.ROLES})[0] == (
        redis_acl.DEFAULT_USER
    )
