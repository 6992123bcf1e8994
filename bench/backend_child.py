"""One backend's epochs, in its own process: Keras fixes its backend when first imported.

``KERAS_BACKEND=jax python -m bench.backend_child --model cnn --images 2000 --epochs 2``
trains the product's model on random uint8 pixels of the job's shapes, fed the way the
gpu worker feeds a streamed job (``training.prefetch.prefetched``: batches made ahead in
a thread), and prints one JSON line: the backend, the device, the seconds of each timed
epoch (after one untimed epoch that compiles) and the share of those epochs spent
waiting for input.
"""

import argparse
import itertools
import json
import time

from bench.epochs_bench import BATCH_SIZE, VARIANTS


def batch_stream(pixels, targets, epochs: int):
    for _ in range(epochs):
        for start in range(0, len(pixels), BATCH_SIZE):
            yield pixels[start : start + BATCH_SIZE], targets[start : start + BATCH_SIZE]


def measure(model_name: str, images: int, epochs: int) -> dict:
    import keras
    import numpy as np

    from catdog_queue.training.devices import backend_name, describe_device
    from catdog_queue.training.models import compile_model, make_model, make_optimizer
    from catdog_queue.training.prefetch import InputClock, prefetched

    _, size, optimizer_name, schedule = next(v for v in VARIANTS if v[0] == model_name)
    keras.utils.set_random_seed(1)
    pixels = np.random.default_rng(1).integers(0, 256, (images, size, size, 3), dtype=np.uint8)
    targets = keras.utils.to_categorical(np.arange(images) % 2, 2)
    steps = -(-images // BATCH_SIZE)
    model = make_model(model_name, (size, size, 3), 2, total_steps=steps * (epochs + 1))
    optimizer = make_optimizer(optimizer_name, None, schedule, steps * (epochs + 1))
    compile_model(model, optimizer, 2)
    clock, marks, waits = InputClock(), [], []

    def mark(*_):
        marks.append(time.perf_counter())
        waits.append(clock.wait_seconds)

    stream = prefetched(batch_stream(pixels, targets, epochs + 1), depth=2, clock=clock)
    started = time.perf_counter()
    model.fit(stream, steps_per_epoch=steps, epochs=epochs + 1, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=mark)])  # fmt: skip
    timed = marks[-1] - marks[0]
    return {
        "backend": backend_name(),
        "device": describe_device(),
        "model": model_name,
        "px": size,
        "images": images,
        "first_epoch_s": marks[0] - started,
        "epoch_s": [later - earlier for earlier, later in itertools.pairwise(marks)],
        "input_wait_share": (waits[-1] - waits[0]) / timed if timed > 0 else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=[v[0] for v in VARIANTS], required=True)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.model, args.images, args.epochs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
