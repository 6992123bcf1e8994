"""``sentinel://`` URLs: what they name, how Celery gets them, and passwords kept hidden."""

import importlib
import socket

import pytest

from catdog_queue.client.broker import BrokerUnreachable, check_reachable, redact
from catdog_queue.shared import sentinel
from catdog_queue.shared.settings import SettingError

URL = "sentinel://worker:s3cret@10.0.0.1:26379/0;sentinel://worker:s3cret@10.0.0.2:26380/0"


def test_a_sentinel_url_names_every_sentinel_and_the_login():
    parsed = sentinel.parse(URL + ";sentinel://10.0.0.3")
    assert parsed["addresses"] == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379)]
    assert (parsed["username"], parsed["password"], parsed["db"]) == ("worker", "s3cret", 0)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sentinel://a:1;redis://b:2", "every address of a sentinel URL starts with sentinel://"),
        ("sentinel://a:notaport", "bad port"),
        ("sentinel://a:1/zero", "the database of a sentinel URL is a number"),
    ],
)
def test_a_bad_sentinel_url_says_what_is_wrong(url, complaint):
    with pytest.raises(sentinel.SentinelUrlError, match=complaint):
        sentinel.parse(url)


def test_redact_hides_the_password_of_every_sentinel():
    redacted = redact(URL)
    assert "s3cret" not in redacted
    assert redacted.count("worker:***@") == 2


def test_celery_gets_the_master_name_and_the_sentinels_login(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", URL)
    monkeypatch.setenv("CATDOG_SENTINEL_MASTER", "cats")
    from catdog_queue import celeryconfig

    config = importlib.reload(celeryconfig)
    try:
        for options in (config.broker_transport_options, config.result_backend_transport_options):
            assert options["master_name"] == "cats"
            assert options["sentinel_kwargs"]["password"] == "s3cret"
            assert options["sentinel_kwargs"]["username"] == "worker"
        assert config.broker_transport_options["visibility_timeout"] == 12 * 3600
        # kombu tries each sentinel in turn before it pauses: ten rounds of pauses.
        assert config.task_publish_retry_policy["max_retries"] == 20
    finally:
        monkeypatch.undo()
        importlib.reload(celeryconfig)


def test_a_bad_master_name_is_refused(monkeypatch):
    monkeypatch.setenv("CATDOG_SENTINEL_MASTER", "cats dogs")
    with pytest.raises(SettingError, match=r"CATDOG_SENTINEL_MASTER .* received 'cats dogs'"):
        sentinel.transport_options(URL)


def test_unreachable_sentinels_raise_broker_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        BrokerUnreachable, match="cannot reach the broker at sentinel://w:\\*\\*\\*@"
    ):
        check_reachable(f"sentinel://w:pw@127.0.0.1:{port}/0", timeout_seconds=1)


def test_a_connection_that_reconnects_asks_the_sentinels_for_the_master_again():
    """redis-py would reconnect a retried command to the deposed master's address."""
    import redis
    from redis.sentinel import SentinelManagedConnection

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    class Pool:
        is_master = True
        asked = 0

        def get_master_address(self):
            self.asked += 1
            return "127.0.0.1", closed_port

    sentinel.follow_the_master_on_reconnection()
    pool = Pool()
    connection = SentinelManagedConnection(connection_pool=pool, host="10.255.255.1", port=1)
    with pytest.raises(redis.ConnectionError):
        connection.connect_check_health(check_health=False, retry_socket_connect=False)
    assert (connection.host, connection.port, pool.asked) == ("127.0.0.1", closed_port, 1)
