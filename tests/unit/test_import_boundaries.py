"""The package boundaries the architecture relies on, checked on the code itself.

TensorFlow is imported only by the gpu worker's pool process: the client,
the cpu workers and every worker's main process (which forks) never do.
``shared/`` is imported by both sides and imports neither ``client`` nor
``training``; ``jobs/`` builds canvases and waits for nothing.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


PACKAGE = "catdog_queue"
# The repository's folders that install as catdog_queue.NAME (setup.py).
SUBPACKAGES = ("client", "jobs", "shared", "training", "workers")


def imported_names(tree: ast.AST) -> set[str]:
    """Every absolute module name a module imports (``from A import b`` gives ``A.b`` too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def component(name: str) -> str:
    """``catdog_queue.shared.x`` -> ``shared``; any other module -> its top-level name."""
    parts = name.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else parts[0]


def first_party_imports(package: str) -> dict[str, set[str]]:
    """``{module file: components (shared, client, keras...) it imports}`` for one package."""
    imports = {}
    for path in sorted((REPOSITORY / package).rglob("*.py")):
        names = imported_names(ast.parse(path.read_text()))
        found = {component(name) for name in names if name != PACKAGE}
        imports[str(path.relative_to(REPOSITORY))] = found
    return imports


def test_the_code_imports_its_own_packages_only_under_catdog_queue():
    """A bare ``import shared`` would load a user's own ``shared`` package instead of ours."""
    files = [REPOSITORY / "celeryconfig.py", REPOSITORY / "submit.py"]
    for folder in (*SUBPACKAGES, PACKAGE, "bench", "tests", "docker"):
        files += sorted((REPOSITORY / folder).rglob("*.py"))
    bare = {
        f"{path.relative_to(REPOSITORY)}: {name}"
        for path in files
        for name in imported_names(ast.parse(path.read_text()))
        if name.split(".")[0] in (*SUBPACKAGES, "celeryconfig")
    }
    assert bare == set()


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("shared", {"client", "training", "workers", "jobs", "tensorflow", "keras"}),
        ("jobs", {"client", "training", "tensorflow", "keras"}),
        ("client", {"training", "tensorflow", "keras"}),
        ("workers", {"client", "tensorflow", "keras"}),
        # The Python API loads Keras only when a model is asked for (Job.model).
        ("catdog_queue", {"training", "tensorflow", "workers"}),
    ],
)
def test_packages_import_only_what_their_side_may(package, forbidden):
    crossing = {module: found & forbidden for module, found in first_party_imports(package).items()}
    assert {module: found for module, found in crossing.items() if found} == {}


def test_the_client_and_the_worker_modules_load_without_tensorflow():
    modules = [
        "client.cli", "client.commands.train", "client.commands.compare",
        "client.commands.predict", "client.commands.control", "client.commands.cluster",
        "client.flow", "workers.app", "workers.cpu", "workers.gpu", "workers.heartbeat",
        "celeryconfig",
    ]  # fmt: skip
    code = "; ".join(f"import {PACKAGE}.{module}" for module in modules)
    # Neither a framework, nor training, nor any of our packages under a bare name.
    unwanted = ("tensorflow", "keras", *SUBPACKAGES, "celeryconfig")
    code += f"; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {unwanted!r}"
    code += f" or m.startswith('{PACKAGE}.training')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
