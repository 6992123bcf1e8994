"""catdog-queue from Python: train, compare and predict on a Celery + Redis cluster.

    import catdog_queue

    with catdog_queue.start():  # an embedded cluster: Redis and two workers
        job = catdog_queue.train("data/train", epochs=3, image_size=32)
        job.wait()  # progress bars, in a terminal or in Jupyter
        print(job.metrics["test_accuracy"], job.history["val_accuracy"])
        model = job.model()  # a Keras model

``catdog_queue.connect("redis://...")`` uses a standing cluster instead
(``python submit.py cluster`` starts one). The keywords of ``train``,
``compare`` and ``predict`` are the command line's options, ``_`` for ``-``.

The whole project installs under this one name: ``catdog_queue.shared``,
``catdog_queue.jobs``, ``catdog_queue.workers``, ``catdog_queue.client``,
``catdog_queue.training`` and ``catdog_queue.celeryconfig``, so it never
shadows (or is shadowed by) a user's own ``shared`` or ``client`` package.
"""

import importlib
from pathlib import Path

# In a wheel those packages are folders of this one. In the repository they keep
# the layout the project asks for, beside this folder at the root: the root joins
# this package's path, so ``catdog_queue.shared`` is ``<root>/shared`` there.
_HERE = Path(__file__).resolve().parent
if not (_HERE / "shared").is_dir():
    __path__.append(str(_HERE.parent))

# Loaded on first use, not on import: a worker importing catdog_queue.workers.cpu
# runs this file, and must not pull in the client, Celery canvases or Keras.
_EXPORTS = {
    "Cluster": "catdog_queue.cluster",
    "connect": "catdog_queue.cluster",
    "start": "catdog_queue.cluster",
    "Job": "catdog_queue.job",
    "compare": "catdog_queue.launch",
    "predict": "catdog_queue.launch",
    "train": "catdog_queue.launch",
    "JobFailed": "catdog_queue.client.follow",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'catdog_queue' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
