"""The project installs as one package, ``catdog_queue``, and runs from anywhere.

The wheel is built, installed into a fresh virtual environment (which borrows
this one's dependencies through a ``.pth`` file instead of downloading them
again), and run from a folder of its own that holds a user's packages called
``shared`` and ``client``: the installed command must train there, on its own
embedded cluster, without loading either.
"""

import json
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from catdog_queue.client.local_cluster import REPOSITORY_ROOT
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment

pytestmark = pytest.mark.integration

SUBPACKAGES = ("client", "jobs", "shared", "training", "workers")
USER_PACKAGE = "raise ImportError('the user\\'s own {name}, loaded by catdog-queue')\n"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(folder), str(REPOSITORY_ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (found,) = folder.glob("catdog_queue-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed: its ``bin`` folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # This environment's dependencies, behind the new one's own packages.
    borrowed = "".join(f"import site; site.addsitedir({path!r})\n" for path in site_packages())
    Path(purelib, "borrowed_dependencies.pth").write_text(borrowed)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return venv / "bin"


def site_packages() -> list[str]:
    """This environment's site-packages folders; never the repository itself."""
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return [folder for folder in folders if Path(folder).is_dir() and "site-packages" in folder]


def test_the_wheel_holds_one_package_the_entry_point_and_the_requirements(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith("entry_points.txt")
        )
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {"catdog_queue"}
    packages = {name.split("/")[1] for name in names if name.count("/") >= 2}
    assert set(SUBPACKAGES) <= packages
    assert "catdog_queue/celeryconfig.py" in names
    assert "catdog_queue/client/local_cluster/keeper.py" in names
    assert "catdog_queue/workers/flowerconfig.py" in names
    every_package = {
        f"catdog_queue/{init.relative_to(REPOSITORY_ROOT).as_posix()}"
        for subpackage in SUBPACKAGES
        for init in (REPOSITORY_ROOT / subpackage).rglob("__init__.py")
    }
    assert every_package <= set(names), every_package - set(names)
    assert "catdog-queue = catdog_queue.client.cli:main" in entry_points
    requirements = (REPOSITORY_ROOT / "requirements.txt").read_text().splitlines()
    pins = [line.split()[0] for line in requirements if line and not line.startswith("#")]
    assert all(f"Requires-Dist: {pin}" in metadata for pin in pins), metadata


def test_a_plain_install_pulls_no_framework_and_each_extra_adds_keras_and_one(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(
            archive.read(n).decode() for n in archive.namelist() if n.endswith("METADATA")
        )
    requires = [
        line.split(": ", 1)[1]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    unconditional = {
        requirement.split("==")[0].split("[")[0]
        for requirement in requires
        if "extra ==" not in requirement
    }
    assert not unconditional & {"tensorflow", "keras", "jax", "torch"}, unconditional
    assert {"celery", "redis", "simplejpeg", "numpy"} <= unconditional
    keras = next(
        line
        for line in (REPOSITORY_ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("keras==")
    )
    jax = next(
        line
        for line in (REPOSITORY_ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("jax")
    )
    for extra, backend in {"tensorflow": "tensorflow==", "jax": jax, "torch": "torch"}.items():
        mine = [
            requirement.split(";")[0].strip()
            for requirement in requires
            if f'extra == "{extra}"' in requirement
        ]
        assert keras in mine and any(pin.startswith(backend) for pin in mine), (extra, mine)


def user_project(folder: Path) -> Path:
    """A user's folder with packages of their own named like ours; importing one fails."""
    for name in ("shared", "client"):
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(USER_PACKAGE.format(name=name))
    return folder


def test_the_installed_command_trains_beside_a_users_own_shared_package(installed, tmp_path):
    project = user_project(tmp_path / "project")
    make_separable_images(project / "images", per_label=12, side=16)
    # No cluster named, and no PYTHONPATH that could lead back to the checkout.
    environment = clean_environment()
    environment.pop("PYTHONPATH", None)
    where = subprocess.run(
        [installed / "python", "-c", "import catdog_queue.shared.options as o; print(o.__file__)"],
        cwd=project, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert "site-packages" in where.stdout and str(REPOSITORY_ROOT) not in where.stdout
    helped = subprocess.run(
        [installed / "catdog-queue", "--help"],
        cwd=project, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert helped.stdout.startswith("usage: catdog-queue "), helped.stdout + helped.stderr
    trained = subprocess.run(
        [installed / "catdog-queue", "train", "--data", "images", "--epochs", "1",
         "--image-size", "16", "--out", "out"],
        cwd=project, env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((project / "out" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1
    assert metrics["images_used"] == 24
    assert (project / "out" / "model.keras").is_file()
    assert "the user's own" not in trained.stderr
