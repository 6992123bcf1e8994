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


def first_party_imports(package: str) -> dict[str, set[str]]:
    """``{module file: top-level first-party packages it imports}`` for one package."""
    imports = {}
    for path in sorted((REPOSITORY / package).rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        imports[str(path.relative_to(REPOSITORY))] = found
    return imports


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
        "celeryconfig", "catdog_queue",
    ]  # fmt: skip
    code = "; ".join(f"import {module}" for module in modules)
    code += "; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in"
    code += " ('tensorflow', 'keras', 'training')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
