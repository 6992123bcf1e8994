"""Broker URLs: redacting passwords, and failing clearly when Redis is not there."""

import socket
import time

import pytest

from catdog_queue.client.broker import BrokerUnreachable, check_reachable, redact


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://:secret@redis.example.com:6380/2", "rediss://:***@redis.example.com:6380/2"),
        ("redis://:secret@host/0", "redis://:***@host/0"),
    ],
)
def test_redact_hides_the_password(url, redacted):
    result = redact(url)
    assert "secret" not in result
    assert "***" in result
    assert result == redacted


@pytest.mark.parametrize(
    "url",
    [
        "redis://host:6379/0",
        "redis://user@host:6379/0",
        "redis://localhost",
        "unix:///run/redis.sock",
    ],
)
def test_redact_leaves_urls_without_password_alone(url):
    assert redact(url) == url


def test_redact_keeps_ipv6_brackets():
    assert redact("redis://:secret@[::1]:6379/0") == "redis://:***@[::1]:6379/0"


def closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_closed_port_raises_broker_unreachable_quickly():
    port = closed_loopback_port()
    url = f"redis://:secret@127.0.0.1:{port}/0"

    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as raised:
        check_reachable(url, timeout_seconds=2)
    elapsed = time.monotonic() - started

    message = str(raised.value)
    assert elapsed < 10
    assert f"127.0.0.1:{port}" in message
    assert "secret" not in message
    assert "***" in message


@pytest.mark.parametrize(
    "url",
    ["amqp://guest:secret@rabbit:5672//", "http://:secret@host:6379", "localhost:6379"],
)
def test_unsupported_scheme_raises_broker_unreachable(url):
    with pytest.raises(BrokerUnreachable, match="unsupported broker URL") as raised:
        check_reachable(url)
    assert "secret" not in str(raised.value)
    assert "redis://" in str(raised.value)


def test_malformed_port_raises_broker_unreachable():
    with pytest.raises(BrokerUnreachable):
        check_reachable("redis://:secret@127.0.0.1:notaport/0", timeout_seconds=1)


def test_redact_hides_a_password_given_as_a_query_parameter():
    url = "redis://redis.example.com:6379/0?password=secret&socket_timeout=5"
    assert redact(url) == "redis://redis.example.com:6379/0?password=***&socket_timeout=5"
