"""docker/redis_config.py writes Redis's config file: the password in the file, never on a
command line, eviction off, persistence on, dangerous commands gone. No Docker needed."""

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "redis_config.py"
PASSWORD = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def redis_config():
    spec = importlib.util.spec_from_file_location("redis_config", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def directives(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def test_the_config_holds_the_password_and_never_evicts(redis_config):
    text = redis_config.render({"REDIS_PASSWORD": PASSWORD})
    lines = directives(text)
    assert ["requirepass", PASSWORD] in lines
    assert ["maxmemory-policy", "noeviction"] in lines
    assert ["maxmemory", "0"] in lines
    assert ["port", "6379"] in lines


def test_the_config_persists_to_the_data_volume(redis_config):
    lines = directives(redis_config.render({"REDIS_PASSWORD": PASSWORD}))
    assert ["dir", "/data"] in lines
    assert ["appendonly", "yes"] in lines
    assert ["save", "60", "1"] in lines


def test_commands_no_part_of_the_project_needs_are_disabled(redis_config):
    lines = directives(redis_config.render({"REDIS_PASSWORD": PASSWORD}))
    disabled = {line[1] for line in lines if line[0] == "rename-command" and line[2] == '""'}
    wanted = {"CONFIG", "DEBUG", "MODULE", "SAVE", "BGSAVE", "SHUTDOWN", "FLUSHALL", "FLUSHDB"}
    assert wanted | {"KEYS", "ACL", "MONITOR"} <= disabled
    # Celery and kombu need these: Lua scripts (chords), pub/sub, queues.
    for needed in ("EVAL", "EVALSHA", "SCRIPT", "PUBLISH", "BRPOP", "PING", "INFO", "SCAN"):
        assert needed not in disabled


def test_maxmemory_passes_through(redis_config):
    text = redis_config.render({"REDIS_PASSWORD": PASSWORD, "REDIS_MAXMEMORY": "4gb"})
    assert ["maxmemory", "4gb"] in directives(text)


@pytest.mark.parametrize(
    "environment, message",
    [
        ({}, "REDIS_PASSWORD is not set"),
        ({"REDIS_PASSWORD": ""}, "REDIS_PASSWORD is not set"),
        ({"REDIS_PASSWORD": "short"}, "at least 16"),
        ({"REDIS_PASSWORD": "has space in it 0123456789"}, "letters, digits"),
        ({"REDIS_PASSWORD": "has@at:colon/0123456789"}, "letters, digits"),
        ({"REDIS_PASSWORD": "line\nrename-command PING x"}, "letters, digits"),
        ({"REDIS_PASSWORD": PASSWORD, "REDIS_MAXMEMORY": "4gb\nsave 1 1"}, "REDIS_MAXMEMORY"),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(redis_config, environment, message):
    with pytest.raises(redis_config.ConfigError, match=message):
        redis_config.render(environment)


def test_the_script_writes_the_file_and_prints_no_password(tmp_path):
    target = tmp_path / "conf" / "redis.conf"
    environment = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": PASSWORD}
    process = subprocess.run(
        [sys.executable, SCRIPT, target], env=environment, capture_output=True, text=True
    )
    assert process.returncode == 0, process.stderr
    assert PASSWORD not in process.stdout + process.stderr
    assert f"requirepass {PASSWORD}" in target.read_text()
    # Readable by the redis server's user, another uid than the writer's.
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [path.name for path in target.parent.iterdir()] == ["redis.conf"]


def test_the_script_fails_without_a_password_and_writes_nothing(tmp_path):
    target = tmp_path / "redis.conf"
    process = subprocess.run(
        [sys.executable, SCRIPT, target],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2
    assert "REDIS_PASSWORD" in process.stderr
    assert not target.exists()
