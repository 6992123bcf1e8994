"""``python -m bench epochs``: how fast the models train on this machine's accelerator.

``model.fit`` on random uint8 pixels of the job's own shapes (the training part of
a 10,000-image job: 7,500 images), with the product's model, optimizer and loss
builders, in float32 and, where a GPU is seen, with mixed precision. No queue,
no Redis, no decoding: the figure to hold against the decode rate of the CPU
workers, to see whether a GPU worker would wait for its data.

Keras picks its backend from ``KERAS_BACKEND`` (the product's workers use
TensorFlow); the bench prints which backend and device it measured.
"""

import itertools
import statistics
import sys
import time

IMAGES = 7_500  # the training part of a 10,000-image job (2,500 held out)
BATCH_SIZE = 128  # the train job's default
# name, image size, optimizer, schedule: the train job's defaults for each model
VARIANTS = (("mlp", 32, "sgd", "constant"), ("cnn", 64, "adam", "cosine"))


def accelerator() -> str:
    """The device Keras trains on, in words: 'gpu: NVIDIA H200' or 'cpu'."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"gpu: {len(gpus)} x {gpus[0].name}" if gpus else "cpu"
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"gpu: {device.device_kind}" if device.platform == "gpu" else "cpu"
    if backend == "torch":
        import torch

        return f"gpu: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    return "unknown"


def epoch_seconds(
    model_name, image_size, optimizer_name, schedule, mixed, epochs, images, jit_compile="auto",
    steps_per_execution=1,
):  # fmt: skip
    """Seconds of each timed epoch, after one untimed epoch that compiles."""
    import keras
    import numpy as np

    from catdog_queue.training.models import compile_model, make_model, make_optimizer

    keras.utils.set_random_seed(1)
    pixels = np.random.default_rng(1).integers(
        0, 256, (images, image_size, image_size, 3), dtype=np.uint8
    )
    targets = keras.utils.to_categorical(np.arange(images) % 2, 2)
    steps = -(-images // BATCH_SIZE) * (epochs + 1)
    model = make_model(model_name, (image_size, image_size, 3), 2, mixed_precision=mixed)
    optimizer = make_optimizer(optimizer_name, None, schedule, steps)
    compile_model(model, optimizer, 2, jit_compile, steps_per_execution)
    marks = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda *_: marks.append(time.perf_counter())
    )
    start = time.perf_counter()
    model.fit(
        pixels, targets, batch_size=BATCH_SIZE, epochs=epochs + 1, verbose=0, callbacks=[timer]
    )
    return [later - earlier for earlier, later in itertools.pairwise(marks)], marks[0] - start


def epochs(args) -> int:
    import keras

    timed = args.epochs
    images = args.limit or IMAGES
    device = accelerator()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, device {device}")
    print(
        f"{images} random images a run, batch {BATCH_SIZE},"
        f" {timed} timed epochs after one that compiles"
    )
    print("| model | px | precision | first epoch s | epoch s (median) | images/s |")
    print("| --- | --: | --- | --: | --: | --: |")
    rates = {}
    for name, size, optimizer_name, schedule in VARIANTS:
        precisions = (
            ("float32", "mixed") if name == "cnn" and device.startswith("gpu") else ("float32",)
        )
        for precision in precisions:
            seconds, first = epoch_seconds(
                name, size, optimizer_name, schedule, precision == "mixed", timed, images
            )
            median = statistics.median(seconds)
            rates[name, precision] = images / median
            print(
                f"| {name} | {size} | {precision} | {first:.2f} | {median:.3f} |"
                f" {images / median:,.0f} |",
                flush=True,
            )
    if ("cnn", "mixed") in rates:
        speedup = rates["cnn", "mixed"] / rates["cnn", "float32"]
        print(f"mixed precision speedup (cnn, images/s mixed / float32): {speedup:.2f}")
    else:
        print("mixed precision: not measured (no GPU seen)", file=sys.stderr)
    print(f"cnn training images/s ({device}): {rates['cnn', 'float32']:,.0f}")
    return 0
