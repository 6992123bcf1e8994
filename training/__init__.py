"""The GPU side: models, training, checkpoints, prediction, devices.

Everything here may import Keras and so TensorFlow: only the ``gpu`` worker's
pool process imports this package (lazily, inside its tasks). The client and
the ``cpu`` workers never do; ``tests/unit/test_import_boundaries.py`` keeps it so.
"""
