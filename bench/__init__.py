"""Benchmarks of catdog-queue: ``python -m bench <name> [--data DIR] [--repeats N]``.

See BENCHMARKS.md for what each one measures, how, and the figures measured.
"""
