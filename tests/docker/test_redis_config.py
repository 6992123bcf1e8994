"""docker/redis_config.py writes Redis's config file: the ACL users of shared/redis_acl.py with
their passwords in the file, never on a command line, eviction off, persistence on; and
docker/make_env.py generates those passwords into a private .env. No Docker needed."""

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from catdog_queue.shared import redis_acl

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "docker" / "redis_config.py"
MAKE_ENV = REPOSITORY / "docker" / "make_env.py"
PASSWORDS = {role: f"{role}-0123456789abcdef0123456789" for role in redis_acl.ROLES}
ENVIRONMENT = {f"CATDOG_REDIS_{role.upper()}_PASSWORD": pw for role, pw in PASSWORDS.items()}


@pytest.fixture(scope="module")
def redis_config():
    spec = importlib.util.spec_from_file_location("redis_config", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def directives(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def test_the_config_holds_the_acl_users_and_never_evicts(redis_config):
    text = redis_config.render(ENVIRONMENT)
    users = [line for line in text.splitlines() if line.startswith("user ")]
    assert users == redis_config.acl_users(PASSWORDS)
    # The default user: off, so nobody logs in as it, with its permissions kept, so that
    # Redis 7 replays the append-only file's transactions as it (see DEFAULT_USER).
    assert users[0] == "user default off ~* &* +@all"
    assert users[1:] == redis_acl.acl_lines(PASSWORDS)[1:]
    assert f"user admin on >{PASSWORDS['admin']} ~* &* +@all" in users
    # Compose runs Redis 7.4: the rules with key selectors (read-only keys for client, Flower).
    for role in ("worker", "client", "flower"):
        rules = " ".join(redis_acl.role_rules(role, (7, 0)))
        assert f"user {role} on >{PASSWORDS[role]} {rules}" in users
        assert "-@admin -@dangerous" in rules and "resetkeys" in rules
    assert "%R~celery-task-meta-*" in users[3]  # client: reads results, writes none
    lines = directives(text)
    assert not [line for line in lines if line[0] in ("requirepass", "rename-command")]
    assert ["maxmemory-policy", "noeviction"] in lines
    assert ["maxmemory", "0"] in lines
    assert ["port", "6379"] in lines


def test_the_config_persists_to_the_data_volume(redis_config):
    lines = directives(redis_config.render(ENVIRONMENT))
    assert ["dir", "/data"] in lines
    assert ["appendonly", "yes"] in lines
    assert ["save", "60", "1"] in lines


def test_maxmemory_passes_through(redis_config):
    text = redis_config.render(ENVIRONMENT | {"REDIS_MAXMEMORY": "4gb"})
    assert ["maxmemory", "4gb"] in directives(text)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"CATDOG_REDIS_ADMIN_PASSWORD": None}, "CATDOG_REDIS_ADMIN_PASSWORD is not set"),
        ({"CATDOG_REDIS_FLOWER_PASSWORD": ""}, "CATDOG_REDIS_FLOWER_PASSWORD is not set"),
        ({"CATDOG_REDIS_WORKER_PASSWORD": "short"}, "WORKER_PASSWORD must be at least 16"),
        ({"CATDOG_REDIS_CLIENT_PASSWORD": "has space in it 0123456789"}, "letters, digits"),
        ({"CATDOG_REDIS_CLIENT_PASSWORD": "has@at:colon/0123456789"}, "letters, digits"),
        ({"CATDOG_REDIS_ADMIN_PASSWORD": "line0123456789abcdef\nuser x on"}, "letters, digits"),
        ({"REDIS_MAXMEMORY": "4gb\nsave 1 1"}, "REDIS_MAXMEMORY"),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(redis_config, change, message):
    environment = {k: v for k, v in (ENVIRONMENT | change).items() if v is not None}
    with pytest.raises(redis_config.ConfigError, match=message):
        redis_config.render(environment)


def script_environment(**more) -> dict:
    # As in the image: shared/ importable (PYTHONPATH=/app there).
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPOSITORY), **more}


def test_the_script_writes_the_file_and_prints_no_password(tmp_path):
    target = tmp_path / "conf" / "redis.conf"
    process = subprocess.run(
        [sys.executable, SCRIPT, target],
        env=script_environment(**ENVIRONMENT),
        capture_output=True,
        text=True,
    )
    assert process.returncode == 0, process.stderr
    for password in PASSWORDS.values():
        assert password not in process.stdout + process.stderr
        assert f">{password} " in target.read_text()
    # Readable by the redis server's user, another uid than the writer's.
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [path.name for path in target.parent.iterdir()] == ["redis.conf"]


def test_the_script_fails_without_the_passwords_and_writes_nothing(tmp_path):
    target = tmp_path / "redis.conf"
    process = subprocess.run(
        [sys.executable, SCRIPT, target], env=script_environment(), capture_output=True, text=True
    )
    assert process.returncode == 2
    assert "CATDOG_REDIS_ADMIN_PASSWORD is not set" in process.stderr
    assert not target.exists()


def read_env_file(path: Path) -> dict:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_make_env_writes_a_private_env_file_the_config_step_accepts(redis_config, tmp_path):
    env_file = tmp_path / ".env"
    process = subprocess.run(
        [sys.executable, MAKE_ENV, "--data-dir", tmp_path, "--output", env_file, "REDIS_PORT=7000"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert process.returncode == 0, process.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env_file(env_file)
    assert values["DATA_DIR"] == str(tmp_path.resolve())
    assert values["REDIS_PORT"] == "7000"
    assert values["COMPOSE_PROJECT_NAME"] == "catdog-queue"
    assert values["FLOWER_BASIC_AUTH"].startswith("admin:")
    passwords = [values[name] for name in ENVIRONMENT]
    assert len(set(passwords)) == len(passwords) == 4
    for secret in [*passwords, values["FLOWER_BASIC_AUTH"].split(":")[1]]:
        assert secret not in process.stdout + process.stderr
    # The passwords are ones the redis-config step takes (and that fit in redis:// URLs).
    assert "user worker on >" in redis_config.render(values)

    # An existing file is left alone: its passwords are in use.
    again = subprocess.run(
        [sys.executable, MAKE_ENV, "--data-dir", tmp_path, "--output", env_file],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "exists" in again.stderr
    assert read_env_file(env_file) == values


def test_make_env_refuses_a_missing_data_folder(tmp_path):
    process = subprocess.run(
        [sys.executable, MAKE_ENV, "--data-dir", tmp_path / "nope", "--output", tmp_path / "e"],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2 and "no such folder" in process.stderr
    assert not (tmp_path / "e").exists()
