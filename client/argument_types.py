"""The command line's value checks: each refuses a bad value as a usage error (exit 2)."""

import argparse

from catdog_queue.shared.options import MAX_IMAGE_SIZE, MAX_SEED


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, received {text}")
    return value


def image_size(text: str) -> int:
    value = positive_int(text)
    if value > MAX_IMAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_IMAGE_SIZE}, received {text}")
    return value


def seed(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, received {text}")
    return value


def positive_seconds(text: str) -> float:
    value = float(text)
    # 0 once fell back to the default unseen: a wait must be a real, positive bound.
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, received {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, received {text}")
    return value


# The converters shared.option_declarations names: shared/ stays free of argparse.
CONVERTERS = {
    "positive_int": positive_int,
    "image_size": image_size,
    "seed": seed,
    "fraction": fraction,
    "int": int,
    "float": float,
}
