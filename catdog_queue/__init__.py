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
"""

from catdog_queue.cluster import Cluster, connect, start
from catdog_queue.job import Job
from catdog_queue.launch import compare, predict, train
from client.follow import JobFailed

__all__ = ["Cluster", "Job", "JobFailed", "compare", "connect", "predict", "start", "train"]
