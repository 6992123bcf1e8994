"""Code imported by both the client (submit.py) and the workers.

Nothing in this package imports TensorFlow at module level except
``shared.training``, which only the GPU worker imports.
"""
