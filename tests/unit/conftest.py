"""Fixtures shared by the unit tests: small images written into ``tmp_path``."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

NOBODY = 65534

# Where a cluster is named. An integration fixture of the same run (a session-scoped
# client app) sets them in this process; unit tests run with no broker, whatever ran before.
CLUSTER_VARIABLES = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CATDOG_STORE_URL")


@pytest.fixture(autouse=True)
def no_cluster_configured(monkeypatch):
    for variable in CLUSTER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def _gradient(width: int, height: int) -> np.ndarray:
    """A smooth RGB picture (no flat areas, no sharp edges) as uint8 (H, W, 3)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    red = x / max(width - 1, 1)
    green = y / max(height - 1, 1)
    blue = 0.5 + 0.5 * np.sin(2 * np.pi * (x / width + y / height))
    return np.round(np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


@pytest.fixture
def gradient():
    """``gradient(width, height)``: a smooth uint8 RGB array."""
    return _gradient


@pytest.fixture
def save_image():
    """``save_image(path, pixels_or_image, **save_options)``: write an image file.

    ``pixels_or_image`` is a PIL image or a uint8 array; the format follows
    the extension unless ``format=`` is given. Returns the path.
    """

    def save(path, pixels_or_image, **save_options):
        image = pixels_or_image
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, **save_options)
        return path

    return save


@pytest.fixture
def folder_nobody_can_reach():
    """A fresh folder that the unprivileged user can reach (pytest's are private)."""
    folder = Path(tempfile.mkdtemp(prefix="catdog-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def run_as_nobody():
    """``run_as_nobody(code, *arguments)``: stdout of Python ``code`` run as root, which
    calls ``become_nobody()`` (user 65534) once it has imported what it needs.

    Tests run as root, whom permissions do not stop: this is how a test meets
    "permission denied". The imports come first because the interpreter may
    live where that user cannot read (under /root).
    """
    prologue = (
        f"import os\ndef become_nobody():\n    os.setgid({NOBODY})\n    os.setuid({NOBODY})\n"
    )

    def run(code: str, *arguments) -> str:
        process = subprocess.run(
            [sys.executable, "-c", prologue + code] + [str(argument) for argument in arguments],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ | {"PYTHONPATH": os.getcwd()},
        )
        assert process.returncode == 0, process.stderr
        return process.stdout

    return run
