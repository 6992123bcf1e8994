"""docs/quickstart.ipynb runs top to bottom in a Jupyter kernel of this very interpreter.

The notebook's own asserts check what it shows (accuracy, history, the
model's answers, the predictions); here, that every cell ran without error.
"""

import json
import sys

import pytest

from catdog_queue.client.local_cluster import REPOSITORY_ROOT

pytestmark = pytest.mark.integration

NOTEBOOK = REPOSITORY_ROOT / "docs" / "quickstart.ipynb"
KERNEL_NAME = "catdog-queue-tests"
WIDGET = "application/vnd.jupyter.widget-view+json"
PREDICTIONS_CELL = 11  # the cell that shows job.predictions


def install_kernel_spec(folder) -> None:
    """A kernel spec naming this interpreter: a ``python3`` spec installed elsewhere on the
    machine (another venv, a system Jupyter) would otherwise run the notebook."""
    spec_folder = folder / "kernels" / KERNEL_NAME
    spec_folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "catdog-queue tests",
        "language": "python",
    }
    (spec_folder / "kernel.json").write_text(json.dumps(spec))


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -r requirements-dev.txt")
    from nbclient import NotebookClient

    install_kernel_spec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # The kernel imports catdog_queue from this checkout, as a user in its folder would.
    monkeypatch.setenv("PYTHONPATH", str(REPOSITORY_ROOT))
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's images: gone with the test
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CATDOG_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=300,
        resources={"metadata": {"path": str(REPOSITORY_ROOT)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    printed = "".join(output.get("text", "") for output in outputs)
    assert "held-out accuracy" in printed
    # requirements-dev.txt has ipywidgets and pandas, as a notebook user's environment would:
    # progress drawn as widgets, not as lines; predictions shown as a DataFrame's table.
    shown = [output.get("data", {}) for output in outputs]
    assert any(WIDGET in data for data in shown), "no progress widget was drawn"
    predictions = notebook.cells[PREDICTIONS_CELL]
    assert "predictions = job.predictions" in predictions.source
    html = "".join(output.get("data", {}).get("text/html", "") for output in predictions.outputs)
    assert "<table" in html and "label" in html, predictions.outputs
