"""Inputs some tests need from outside the repository: skip without them, or fail in CI.

The Kaggle images (``../shared/data``), Debian's Redis 7 with TLS (redis-tools) and
openssl are there in CI, which sets ``CATDOG_REQUIRE_INPUTS=1`` (``.ci/run``): a test
that would skip for want of one fails there instead, so the README's figures and the
TLS and Redis 7 checks never pass by not running.
"""

import os

import pytest


def unavailable(reason: str):
    if os.environ.get("CATDOG_REQUIRE_INPUTS") == "1":
        pytest.fail(f"CATDOG_REQUIRE_INPUTS=1 but {reason}", pytrace=False)
    pytest.skip(reason)
