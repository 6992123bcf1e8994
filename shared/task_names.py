"""The Celery task names, and the queue each one runs on, declared once.

Workers register their tasks under these names, the client's canvases send
them by name, and ``celeryconfig.task_routes`` routes them; a name spelled
twice could drift into a task no worker consumes.
"""

DECODE_SHARD = "catdog.decode_shard"  # cpu workers: one shard of images into arrays
TRAIN = "catdog.train"  # the gpu worker: one training run
PREDICT = "catdog.predict"  # the gpu worker: classify a folder with a saved model

QUEUE_OF = {DECODE_SHARD: "cpu", TRAIN: "gpu", PREDICT: "gpu"}
