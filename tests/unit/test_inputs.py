"""A missing outside input skips a test on a laptop and fails it in CI."""

import pytest

from tests.inputs import unavailable


def test_a_missing_input_skips_by_default(monkeypatch):
    monkeypatch.delenv("CATDOG_REQUIRE_INPUTS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Kaggle images"):
        unavailable("no Kaggle images")


def test_a_missing_input_fails_where_ci_requires_it(monkeypatch):
    monkeypatch.setenv("CATDOG_REQUIRE_INPUTS", "1")
    with pytest.raises(pytest.fail.Exception, match="CATDOG_REQUIRE_INPUTS=1 but no Kaggle"):
        unavailable("no Kaggle images")
