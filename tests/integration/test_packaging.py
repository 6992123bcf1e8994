"""The project installs as a package: a wheel with every package and a console command."""

import subprocess
import sys
import zipfile

import pytest

from client.local_cluster import REPOSITORY_ROOT

pytestmark = pytest.mark.integration


def test_the_wheel_holds_the_packages_the_entry_point_and_the_requirements(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp_path), str(REPOSITORY_ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("catdog_queue-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith("entry_points.txt")
        )
    packages = {name.split("/")[0] for name in names if name.endswith(".py")}
    assert {"client", "jobs", "shared", "training", "workers"} <= packages
    assert {"celeryconfig.py", "submit.py"} <= set(names)
    assert "client/local_cluster/keeper.py" in names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)
    assert "catdog-queue = client.cli:main" in entry_points
    requirements = (REPOSITORY_ROOT / "requirements.txt").read_text().splitlines()
    pins = [line.split()[0] for line in requirements if line and not line.startswith("#")]
    assert all(f"Requires-Dist: {pin}" in metadata for pin in pins), metadata
