"""Readers of environment variables: defaults, overrides and clear errors."""

from pathlib import Path

import pytest

from catdog_queue.shared import settings

CONFIG_NAMES = (
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CATDOG_STORE_URL",
    "CATDOG_SHARD_TTL_DAYS",
    "CATDOG_ARTIFACT_TTL_HOURS",
    "CATDOG_VISIBILITY_TIMEOUT_HOURS",
    "CATDOG_MAX_IMAGE_PIXELS",
    "CATDOG_MAX_DECODE_BYTES",
    "CATDOG_MAX_FILE_BYTES",
    "CATDOG_MAX_UPLOAD_BYTES",
    "CATDOG_CACHE_DIR",
)

# (reader, variable, default result, an override, its result)
NUMBER_READERS = [
    (settings.shard_ttl_seconds, "CATDOG_SHARD_TTL_DAYS", 7 * 86400, "2", 2 * 86400),
    (settings.artifact_ttl_seconds, "CATDOG_ARTIFACT_TTL_HOURS", 24 * 3600, "1.5", 5400),
    (
        settings.visibility_timeout_seconds,
        "CATDOG_VISIBILITY_TIMEOUT_HOURS",
        12 * 3600,
        "48",
        48 * 3600,
    ),
    (settings.max_image_pixels, "CATDOG_MAX_IMAGE_PIXELS", 89_478_485, "1000000", 1_000_000),
    # Above Pillow's own limit too: ours is the only one applied.
    (settings.max_image_pixels, "CATDOG_MAX_IMAGE_PIXELS", 89_478_485, "200000000", 200_000_000),
    (settings.max_decode_bytes, "CATDOG_MAX_DECODE_BYTES", 256 * 2**20, "1e9", 10**9),
    (settings.max_file_bytes, "CATDOG_MAX_FILE_BYTES", 64 * 2**20, "1000", 1000),
    (settings.max_upload_bytes, "CATDOG_MAX_UPLOAD_BYTES", 256 * 2**20, "5000", 5000),
]
READER_IDS = [f"{variable}={raw}" for _, variable, _, raw, _ in NUMBER_READERS]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in CONFIG_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("reader", "variable", "default", "raw", "value"), NUMBER_READERS, ids=READER_IDS
)
def test_number_defaults(reader, variable, default, raw, value):
    result = reader()
    assert result == default
    assert isinstance(result, int)


@pytest.mark.parametrize(
    ("reader", "variable", "default", "raw", "value"), NUMBER_READERS, ids=READER_IDS
)
def test_number_overrides(monkeypatch, reader, variable, default, raw, value):
    monkeypatch.setenv(variable, raw)
    result = reader()
    assert result == value
    assert result != default
    assert isinstance(result, int)


@pytest.mark.parametrize(
    ("reader", "variable", "default", "raw", "value"), NUMBER_READERS, ids=READER_IDS
)
def test_empty_value_means_default(monkeypatch, reader, variable, default, raw, value):
    monkeypatch.setenv(variable, "")
    assert reader() == default


@pytest.mark.parametrize("bad", ["abc", "7 days", "1,5"])
@pytest.mark.parametrize(
    ("reader", "variable", "default", "raw", "value"), NUMBER_READERS, ids=READER_IDS
)
def test_non_number_names_the_variable(monkeypatch, reader, variable, default, raw, value, bad):
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ValueError, match="must be a number") as raised:
        reader()
    assert variable in str(raised.value)
    assert repr(bad) in str(raised.value)


@pytest.mark.parametrize("bad", ["0", "-1", "-0.5"])
@pytest.mark.parametrize(
    ("reader", "variable", "default", "raw", "value"), NUMBER_READERS, ids=READER_IDS
)
def test_non_positive_names_the_variable(monkeypatch, reader, variable, default, raw, value, bad):
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ValueError, match="must be a positive number") as raised:
        reader()
    assert variable in str(raised.value)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_nan_and_infinity_name_the_variable(monkeypatch, bad):
    monkeypatch.setenv("CATDOG_SHARD_TTL_DAYS", bad)
    with pytest.raises(ValueError, match="CATDOG_SHARD_TTL_DAYS"):
        settings.shard_ttl_seconds()


def test_urls_are_none_when_unset():
    assert settings.broker_url() is None
    assert settings.result_backend_url() is None
    assert settings.store_url() is None


def test_result_backend_and_store_fall_back_to_the_broker(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://broker:6379/0")
    assert settings.broker_url() == "redis://broker:6379/0"
    assert settings.result_backend_url() == "redis://broker:6379/0"
    assert settings.store_url() == "redis://broker:6379/0"


def test_store_falls_back_to_the_result_backend(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://backend:6379/1")
    assert settings.result_backend_url() == "redis://backend:6379/1"
    assert settings.store_url() == "redis://backend:6379/1"


def test_each_url_can_be_overridden(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://backend:6379/1")
    monkeypatch.setenv("CATDOG_STORE_URL", "redis://store:6379/2")
    assert settings.broker_url() == "redis://broker:6379/0"
    assert settings.store_url() == "redis://store:6379/2"


def test_empty_urls_count_as_unset(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "")
    monkeypatch.setenv("CATDOG_STORE_URL", "")
    assert settings.broker_url() is None
    assert settings.store_url() is None


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache"))
    assert settings.default_cache_dir() == tmp_path / "cache"


def test_cache_dir_default_is_a_user_cache_folder():
    folder = settings.default_cache_dir()
    assert isinstance(folder, Path)
    assert "catdog-queue" in folder.parts


@pytest.mark.parametrize(
    ("variable", "reader"),
    [
        ("CATDOG_SHARD_TTL_DAYS", settings.shard_ttl_seconds),
        ("CATDOG_MAX_IMAGE_PIXELS", settings.max_image_pixels),
    ],
)
def test_values_that_round_to_zero_name_the_variable(monkeypatch, variable, reader):
    monkeypatch.setenv(variable, "0.000001")
    with pytest.raises(ValueError, match=f"{variable} is too small"):
        reader()


def test_gpu_memory_limit_is_unset_by_default_and_read_in_megabytes(monkeypatch):
    monkeypatch.delenv("GPU_MEMORY_LIMIT_MB", raising=False)
    assert settings.gpu_memory_limit_mb() is None
    monkeypatch.setenv("GPU_MEMORY_LIMIT_MB", "4096")
    assert settings.gpu_memory_limit_mb() == 4096
    monkeypatch.setenv("GPU_MEMORY_LIMIT_MB", "lots")
    with pytest.raises(ValueError, match="GPU_MEMORY_LIMIT_MB"):
        settings.gpu_memory_limit_mb()


def test_data_roots_are_real_paths_separated_by_the_path_separator(monkeypatch, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    monkeypatch.setenv("CATDOG_DATA_ROOT", f"{tmp_path / 'link'}:{tmp_path / 'b'}")
    assert settings.data_roots() == [str((tmp_path / "a").resolve()), str(tmp_path / "b")]
    monkeypatch.delenv("CATDOG_DATA_ROOT")
    assert settings.data_roots() == []


def test_the_training_lock_has_one_default(monkeypatch):
    # JobState once had its own 30 s next to the setting's 15 s; a test's docstring a third.
    from catdog_queue.shared.job_state import JobState

    monkeypatch.delenv("CATDOG_LOCK_TTL_S", raising=False)
    assert settings.lock_ttl_seconds() == settings.DEFAULT_LOCK_TTL_S == 15
    assert JobState(None, "job", ttl_seconds=60).lock_ttl_seconds == settings.DEFAULT_LOCK_TTL_S
