"""``python -m bench steps``: XLA on and off, and steps per call, side by side.

The product's MLP and CNN (32 px, the job's optimizers) on random uint8 pixels,
``model.fit`` with ``jit_compile`` off and on and ``steps_per_execution`` 1 and
8, the runs interleaved and each variant's timed epochs (after one that
compiles) taken as a median. What ``training.execution`` chooses by default
rests on these figures: run it again on a GPU.
"""

import statistics

from bench.epochs_bench import BATCH_SIZE, accelerator, epoch_seconds
from bench.stats import format_table, interleaved, ratio

IMAGES = 1024
MODELS = (("mlp", "sgd", "constant"), ("cnn", "adam", "cosine"))
VARIANTS = tuple((jit, steps) for jit in (False, True) for steps in (1, 8))
IMAGE_SIZE = 32


def steps(args) -> int:
    import keras

    images = args.limit or IMAGES
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, device {accelerator()}")
    print(
        f"{images} random images, {IMAGE_SIZE} px, batch {BATCH_SIZE}, {args.epochs} timed epochs"
    )
    names = [f"{model} {jit} {count}" for model, *_ in MODELS for jit, count in VARIANTS]
    timed, first = {name: [] for name in names}, {name: [] for name in names}
    for _, name in interleaved(names, args.repeats):
        model, jit, count = name.split()
        optimizer, schedule = dict((row[0], row[1:]) for row in MODELS)[model]
        seconds, compile_seconds = epoch_seconds(
            model, IMAGE_SIZE, optimizer, schedule, False, args.epochs, images,
            jit_compile=jit == "True", steps_per_execution=int(count),
        )  # fmt: skip
        timed[name].extend(seconds)
        first[name].append(compile_seconds)
    step_count = -(-images // BATCH_SIZE)
    rows = []
    for name in names:
        model, jit, count = name.split()
        median = statistics.median(timed[name])
        rows.append([model, jit, int(count), statistics.median(first[name]), median,
                     1000 * median / step_count])  # fmt: skip
    print(
        format_table(["model", "XLA", "steps a call", "first epoch s", "epoch s", "ms/step"], rows)
    )
    epoch = {name: statistics.median(values) for name, values in timed.items()}
    xla_over_none = ratio(epoch["cnn True 1"], epoch["cnn False 1"])
    print(f"cnn epoch, XLA on / off (1 step a call): {xla_over_none:.2f}")
    return 0
