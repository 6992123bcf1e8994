"""Job kinds and Celery task names are declared once; every registry derives from that."""

import importlib
import re
from pathlib import Path

from catdog_queue.celeryconfig import task_routes
from catdog_queue.client.commands import collector_for
from catdog_queue.jobs import kinds
from catdog_queue.jobs.record_checks import PARTS
from catdog_queue.shared import task_names

REPOSITORY = Path(__file__).resolve().parents[2]


def test_every_kind_has_its_canvas_and_its_collector():
    assert kinds.KINDS == tuple(PARTS) == ("train", "compare", "predict")
    for kind in kinds.KINDS:
        canvas = kinds._MODULES[kind]
        assert canvas.__name__ == f"catdog_queue.jobs.{kind}"
        assert callable(canvas.build_canvas) and callable(canvas.followed_tasks)
        collector = collector_for(kind)
        assert collector.__name__ == f"catdog_queue.client.commands.{kind}"
        for function in ("output_path", "collect_results", "report"):
            assert callable(getattr(collector, function)), f"{kind}: {function}"


def test_an_unknown_kind_has_no_collector():
    try:
        collector_for("train; rm")
    except LookupError as error:
        assert "no job kind 'train; rm'" in str(error)
    else:
        raise AssertionError("collector_for accepted an unknown kind")


def test_workers_register_exactly_the_declared_tasks_and_celeryconfig_routes_them():
    from catdog_queue.workers.app import app

    # Importing the task modules registers their tasks (the gpu ones without TensorFlow).
    for module in ("catdog_queue.workers.cpu", "catdog_queue.workers.gpu"):
        importlib.import_module(module)

    registered = {name for name in app.tasks if name.startswith("catdog.")}
    assert registered == set(task_names.QUEUE_OF)
    assert task_routes == {name: {"queue": queue} for name, queue in task_names.QUEUE_OF.items()}


def test_no_task_name_is_spelled_outside_its_declaration():
    spelled = re.compile(r"[\"']catdog\.(?:decode_shard|train|predict)[\"']")
    product = [
        path
        for folder in ("client", "jobs", "shared", "workers", "training", "bench")
        for path in (REPOSITORY / folder).rglob("*.py")
    ] + [REPOSITORY / "celeryconfig.py", REPOSITORY / "submit.py"]
    found = sorted(
        str(path.relative_to(REPOSITORY)) for path in product if spelled.search(path.read_text())
    )
    assert found == ["shared/task_names.py"]
