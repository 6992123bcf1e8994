"""Installs the repository under one name, ``catdog_queue``.

The repository keeps the layout the project asks for (``jobs/``, ``workers/``,
``shared/``, ``client/``, ``training/`` and ``celeryconfig.py`` at the root);
the wheel puts each of them inside ``catdog_queue/``, so nothing of ours lands
in site-packages under a name as common as ``shared``.

The dependencies come from requirements.txt, less the deep-learning framework:
``pip install catdog-queue`` is a client (and cpu worker) that pulls no
TensorFlow; the extras ``[tensorflow]``, ``[jax]`` and ``[torch]`` add Keras
and one backend, for a gpu worker or a local cluster. Everything else is in
pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PACKAGE = "catdog_queue"
SUBPACKAGES = ("client", "jobs", "shared", "training", "workers")
ROOT_MODULES = ("celeryconfig.py",)  # modules of catdog_queue kept at the repository's root
# requirements.txt's lines that only training needs, by project name.
FRAMEWORK = ("tensorflow", "keras")
# The other backends, beside Keras's pin (jax's is requirements-dev.txt's, which CI runs).
OTHER_BACKENDS = {"jax": "jax[cpu]==0.10.2", "torch": "torch>=2.6"}


def package_folders() -> dict[str, str]:
    """Each package's dotted name under catdog_queue, and its folder in the repository."""
    folders = {PACKAGE: PACKAGE}
    for subpackage in SUBPACKAGES:
        for init in sorted(Path(subpackage).rglob("__init__.py")):
            folders[".".join((PACKAGE, *init.parent.parts))] = init.parent.as_posix()
    return folders


class BuildWithRootModules(build_py):
    """``build_py``, plus the root's modules copied into the package."""

    def run(self):
        super().run()
        for module in ROOT_MODULES:
            self.copy_file(module, str(Path(self.build_lib, PACKAGE, module)))


def requirements() -> list[str]:
    lines = Path("requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def project_name(requirement: str) -> str:
    return requirement.split("==")[0].split("[")[0].split(">")[0].strip().lower()


def dependencies_and_extras() -> tuple[list[str], dict[str, list[str]]]:
    pins = requirements()
    framework = {project_name(pin): pin for pin in pins if project_name(pin) in FRAMEWORK}
    base = [pin for pin in pins if project_name(pin) not in FRAMEWORK]
    extras = {"tensorflow": [framework["keras"], framework["tensorflow"]]}
    extras |= {name: [framework["keras"], pin] for name, pin in OTHER_BACKENDS.items()}
    return base, extras


FOLDERS = package_folders()
DEPENDENCIES, EXTRAS = dependencies_and_extras()
setup(
    packages=list(FOLDERS),
    package_dir=FOLDERS,
    install_requires=DEPENDENCIES,
    extras_require=EXTRAS,
    cmdclass={"build_py": BuildWithRootModules},
)
