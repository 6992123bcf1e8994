"""Code imported by the client (submit.py) and by both kinds of worker.

Nothing in this package imports TensorFlow or Keras: the GPU side lives in
``training/``. ``tests/unit/test_import_boundaries.py`` keeps it so.
"""
