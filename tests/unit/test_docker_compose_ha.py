"""docker/docker-compose.ha.yml agrees with the main compose file and with the code it runs."""

import importlib.util

import pytest
import yaml

from catdog_queue.shared import redis_acl, sentinel, sentinel_config
from tests.unit.test_docker_compose import (
    COMPOSE_FILE,
    DOCKER,
    PASSWORDS,
    REQUIRED,
    ROLE_OF_SERVICE,
    environment_of,
    resolve,
)

HA_FILE = DOCKER / "docker-compose.ha.yml"
SENTINELS = [f"sentinel-{number}" for number in range(1, sentinel_config.SENTINELS + 1)]


@pytest.fixture(scope="module")
def main_services():
    return resolve(yaml.safe_load(COMPOSE_FILE.read_text()), REQUIRED)["services"]


@pytest.fixture(scope="module")
def ha():
    return resolve(yaml.safe_load(HA_FILE.read_text()), REQUIRED)


@pytest.fixture(scope="module")
def redis_config():
    spec = importlib.util.spec_from_file_location("redis_config", DOCKER / "redis_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ha_file_adds_a_replica_and_three_sentinels(ha, main_services):
    added = set(ha["services"]) - set(main_services)
    assert added == {"redis-replica", *SENTINELS}
    assert set(ha["services"]) - added <= set(main_services)  # the rest override main services


@pytest.mark.parametrize("service", sorted(ROLE_OF_SERVICE))
def test_celery_services_reach_the_master_through_every_sentinel_as_their_own_user(ha, service):
    url = environment_of(ha["services"][service])["CELERY_BROKER_URL"]
    parsed = sentinel.parse(url)
    assert parsed["addresses"] == [(name, 26379) for name in SENTINELS]
    role = ROLE_OF_SERVICE[service]
    assert (parsed["username"], parsed["password"], parsed["db"]) == (role, PASSWORDS[role], 0)
    for chunk in url.split(";"):  # each address logs in alike: kombu may start from any
        assert chunk.startswith(f"sentinel://{role}:{PASSWORDS[role]}@")


def test_each_added_service_gets_only_the_worker_password_for_its_health_check(ha):
    for name in ("redis-replica", *SENTINELS):
        shown = str(environment_of(ha["services"][name]))
        assert {role for role, password in PASSWORDS.items() if password in shown} == {"worker"}


def test_celery_services_wait_for_the_sentinels(ha):
    for service in ROLE_OF_SERVICE:
        waits_for = ha["services"][service]["depends_on"]
        assert all(waits_for[name]["condition"] == "service_healthy" for name in SENTINELS)


def test_the_config_step_writes_into_each_sentinels_volume(ha):
    config = ha["services"]["redis-config"]
    folders = config["command"][config["command"].index("--ha") + 2 :]
    mounted = dict(volume.split(":", 1)[::-1] for volume in config["volumes"])
    for number, folder in enumerate(folders, start=1):
        assert mounted[folder] == f"sentinel-{number}-data"
        assert ha["services"][f"sentinel-{number}"]["volumes"] == [f"sentinel-{number}-data:/data"]
    assert len(folders) == len(SENTINELS)
    dockerfile = (DOCKER / "cpu-worker.Dockerfile").read_text()
    assert all(folder in dockerfile for folder in folders)  # owned by the image's user


def test_the_sentinels_run_their_own_rewritable_file(ha):
    for name in SENTINELS:
        assert ha["services"][name]["command"] == [
            "redis-server", "/data/sentinel.conf", "--sentinel"
        ]  # fmt: skip


def test_the_ha_config_files(redis_config, tmp_path):
    environment = {f"CATDOG_REDIS_{role.upper()}_PASSWORD": pw for role, pw in PASSWORDS.items()}
    folders = [tmp_path / name for name in SENTINELS]
    redis_config.write_ha(environment, tmp_path / "redis", folders)
    master = (tmp_path / "redis" / "redis.conf").read_text().splitlines()
    replica = (tmp_path / "redis" / "replica.conf").read_text().splitlines()
    assert "masteruser admin" in master and f"masterauth {PASSWORDS['admin']}" in master
    assert "replicaof redis 6379" in replica and "replica-announce-ip redis-replica" in replica
    assert not [line for line in master if line.startswith("replicaof")]
    text = (folders[0] / "sentinel.conf").read_text()
    assert f"sentinel monitor catdog redis 6379 {sentinel_config.QUORUM}" in text
    assert f"sentinel down-after-milliseconds catdog {sentinel_config.DOWN_AFTER_MS}" in text
    for role in redis_acl.ROLES[1:]:
        assert f"user {role} on >{PASSWORDS[role]} {sentinel_config.SENTINEL_CLIENT_RULES}" in text
    # A sentinel's file, rewritten by the sentinel since, is kept on the next start.
    (folders[0] / "sentinel.conf").write_text("sentinel monitor catdog redis-replica 6379 2\n")
    redis_config.write_ha(environment, tmp_path / "redis", folders)
    assert "redis-replica" in (folders[0] / "sentinel.conf").read_text()
