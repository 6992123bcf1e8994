"""``decode``: images per second per core of the ways to get 32x32 RGB pixels.

- ``ours``: ``shared.decode.decode_image`` on a path (simplejpeg: libjpeg-turbo
  scales by 1/2, 1/4 or 1/8 in the DCT; EXIF rotation; bilinear resize as two
  float32 matrix products);
- ``ours, worker path``: ``shared.decode.decode_files``, what a cpu worker runs
  per shard: ``decode_image`` on bytes read through ``DataFolder`` (one
  ``open`` per file relative to the folder's descriptor, ``fstat``, one read);
- ``previous``: the decoder before simplejpeg: Pillow's JPEG draft mode (the
  same DCT scaling), RGB, Pillow's bilinear resize;
- ``libjpeg alone``: the floor of ``ours``: only ``simplejpeg.decode_jpeg`` at
  the draft scale, on bytes read beforehand (no read, header, checks or
  resize): what the entropy decoding and the scaled IDCT cost;
- ``tutorial``: what the tutorial did, without OpenCV: Pillow decodes the whole
  image, converts to RGB and resizes (bilinear) to 32x32;
- ``tf.data``: ``tf.io.decode_jpeg(..., ratio=r)`` with the ratio draft mode
  would pick, then ``tf.image.resize`` (bilinear), in a ``tf.data`` pipeline
  held to one thread.

One process, one thread of work, the same file list for each; the files are
read once first so the page cache serves every run alike. The runs interleave
in blocks of 500 files (ours, tutorial, tf.data, ... on the first block, then
the next method first on the next block, and so on), so that a load that
comes and goes weighs on every method alike. "Per core" is images per CPU-second of
the process (``time.process_time``, every thread of it); wall-clock rates are
shown beside it: on a shared machine CPU time moves less than wall time. The
last column is the median CPU other processes used during that method's runs
(``bench/cpuload.py``): near 0, the machine was ours.
"""

import os
import time

import numpy as np
import simplejpeg
from PIL import Image

from bench import cpuload, stats
from bench.procs import KAGGLE_TRAIN, PETS_ORIGINALS, say
from catdog_queue.shared import settings
from catdog_queue.shared.decode import decode_files, decode_image, draft_scale
from catdog_queue.shared.image_headers import read_jpeg_header
from catdog_queue.shared.listing import list_labelled_images

IMAGE_SIZE = 32
DEFAULT_KAGGLE_LIMIT = 0  # 0: every image of the folder
METHODS = ("ours", "tutorial", "tf.data", "ours, worker path", "previous", "libjpeg alone")
TARGET = 3.0  # ours, worker path / tutorial, per core, on each data set
SHARD_SIZE = 1000  # submit.py's default --shard-size
BLOCK_SIZE = 500  # files each method decodes before the next method's turn
PETS_PASSES = 5  # 600 photos: a run of each would be too short to time against the load


def tutorial_decode(path: str, image_size: int) -> np.ndarray:
    """The tutorial's way, cv2-free: full decode, RGB, resize; no draft mode."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def previous_decode(path: str, image_size: int) -> np.ndarray:
    """The decoder before simplejpeg, without its checks: Pillow's draft mode, RGB, resize."""
    with Image.open(path) as image:
        image.draft("RGB", (image_size, image_size))
        image = image.convert("RGB")
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


class LibjpegAlone:
    """simplejpeg alone, on bytes read and headers parsed before the clock starts."""

    def __init__(self, paths: list[str], image_size: int):
        self.jobs = []
        for path in paths:
            with open(path, "rb") as image_file:
                data = image_file.read()
            header = read_jpeg_header(data)
            scale = draft_scale(header.width, header.height, image_size)
            minimum = (-(-header.height // scale), -(-header.width // scale))
            self.jobs.append((data, *(minimum if scale > 1 else (0, 0))))

    def run(self) -> tuple[float, float, int]:
        wall, cpu = time.perf_counter(), time.process_time()
        for data, height, width in self.jobs:
            simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=height, min_width=width)
        return time.perf_counter() - wall, time.process_time() - cpu, len(self.jobs)


def run_python(paths: list[str], decode) -> tuple[float, float, int]:
    """(wall s, CPU s, images) of ``decode(path)`` over ``paths``."""
    checksum = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        checksum += int(decode(path)[0, 0, 0])
    return time.perf_counter() - wall, time.process_time() - cpu, len(paths)


def run_decode_files(paths: list[str], max_pixels: int) -> tuple[float, float, int]:
    """(wall s, CPU s, images) of ``decode_files`` over ``paths``: one call per shard of
    ``SHARD_SIZE`` files of a folder, as the cpu workers get them."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        folder, name = os.path.split(path)
        by_folder.setdefault(folder, []).append(name)
    wall, cpu = time.perf_counter(), time.process_time()
    for folder, names in by_folder.items():
        for start in range(0, len(names), SHARD_SIZE):
            decode_files(folder, names[start : start + SHARD_SIZE], IMAGE_SIZE, max_pixels)
    return time.perf_counter() - wall, time.process_time() - cpu, len(paths)


class TensorFlowDecoder:
    """A one-thread ``tf.data`` pipeline: read, decode_jpeg at draft's ratio, resize."""

    def __init__(self, paths: list[str], image_size: int):
        import tensorflow as tf

        self.tf = tf
        self.count = len(paths)

        def load(path):
            contents = tf.io.read_file(path)
            shape = tf.io.extract_jpeg_shape(contents)
            scale = tf.minimum(shape[0] // image_size, shape[1] // image_size)
            # Index into (8, 4, 2, 1): the largest ratio <= scale, as Pillow's draft.
            choice = tf.cast(tf.reduce_sum(tf.cast(scale < [8, 4, 2], tf.int32)), tf.int32)
            branches = [
                (lambda r=ratio: tf.io.decode_jpeg(contents, channels=3, ratio=r))
                for ratio in stats.JPEG_SCALE_DENOMINATORS
            ]
            pixels = tf.switch_case(choice, branches)
            resized = tf.image.resize(pixels, (image_size, image_size), method="bilinear")
            return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

        options = tf.data.Options()
        options.threading.private_threadpool_size = 1
        options.threading.max_intra_op_parallelism = 1
        options.autotune.enabled = False
        self.dataset = (
            tf.data.Dataset.from_tensor_slices(paths).map(load).batch(256).with_options(options)
        )

    def run(self) -> tuple[float, float, int]:
        checksum = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in self.dataset:
            checksum += int(batch.numpy()[0, 0, 0, 0])
        return time.perf_counter() - wall, time.process_time() - cpu, self.count


def _pin_tensorflow_to_one_thread() -> bool:
    try:
        import tensorflow as tf
    except ImportError:
        return False
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return True


def _warm_page_cache(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as file:
            file.read()


def data_sets(data: str | None, limit: int | None) -> list[tuple[str, list[str]]]:
    """(name, absolute paths): ``--data`` (Kaggle's train/, evenly sampled down to
    ``limit``) and pets-originals (original sizes, where draft mode scales 1/8), its
    600 photos listed ``PETS_PASSES`` times so that its runs last long enough to time."""
    folders = [(data or str(KAGGLE_TRAIN), limit, 1), (str(PETS_ORIGINALS), None, PETS_PASSES)]
    sets = []
    for folder, folder_limit, passes in folders:
        listing = list_labelled_images(folder)
        paths = [str(listing.root / listed.relative_path) for listed in listing.files]
        name = f"{listing.root.parent.name}/{listing.root.name}"
        sets.append((name, stats.evenly_spaced(paths, folder_limit) * passes))
    return sets


def block_runners(block: list[str], methods, max_pixels: int) -> dict:
    """``{method: run()}`` for one block of files, each run returning (wall s, CPU s, images)."""
    python_decoders = {
        "ours": lambda path: decode_image(path, IMAGE_SIZE, max_pixels),
        "tutorial": lambda path: tutorial_decode(path, IMAGE_SIZE),
        "previous": lambda path: previous_decode(path, IMAGE_SIZE),
    }
    runners = {
        name: (lambda decode=decode: run_python(block, decode))
        for name, decode in python_decoders.items()
    }
    runners["ours, worker path"] = lambda: run_decode_files(block, max_pixels)
    runners["libjpeg alone"] = LibjpegAlone(block, IMAGE_SIZE).run
    if "tf.data" in methods:
        tf_decoder = TensorFlowDecoder(block, IMAGE_SIZE)
        tf_decoder.run()  # untimed: the first run traces the pipeline
        runners["tf.data"] = tf_decoder.run
    return runners


def measure(set_name: str, paths: list[str], methods, repeats: int, max_pixels: int):
    """Medians over repeats of images/s (wall), images per CPU-s and others' CPU, by method.

    Each repeat runs every method on each block of ``BLOCK_SIZE`` files in
    turn, starting with a different method from block to block: a load that
    comes and goes for a few seconds then weighs on every method alike.
    """
    blocks = [paths[start : start + BLOCK_SIZE] for start in range(0, len(paths), BLOCK_SIZE)]
    runners = [block_runners(block, methods, max_pixels) for block in blocks]
    for method in methods:  # untimed warm-up: imports, caches, Pillow's plugin registry
        runners[0][method]()
    walls, cpus, others = [], [], []
    for repeat in range(repeats):
        totals = {method: [0.0, 0.0, 0, 0.0] for method in methods}  # wall, CPU, images, others
        for index, runner in enumerate(runners):
            for method in stats.rotated(methods, repeat + index):
                window = cpuload.Window().start()
                wall, cpu, count = runner[method]()
                total = totals[method]
                total[0] += wall
                total[1] += cpu
                total[2] += count
                total[3] += window.stop() * wall
        for method, (wall, cpu, count, others_seconds) in totals.items():
            say(
                f"decode {set_name} #{repeat + 1} {method}: {count} images in {wall:.2f}s"
                f" ({cpu:.2f} CPU-s; others' CPU {others_seconds / wall:.2f} cores)"
            )
            walls.append((method, count / wall))
            cpus.append((method, count / cpu))
            others.append((method, others_seconds / wall))
    return (
        stats.medians_by_name(walls),
        stats.medians_by_name(cpus),
        stats.medians_by_name(others),
    )


def main(args) -> int:
    limit = DEFAULT_KAGGLE_LIMIT if args.limit is None else args.limit
    max_pixels = settings.max_image_pixels()
    with_tensorflow = _pin_tensorflow_to_one_thread()
    methods = METHODS if with_tensorflow else tuple(m for m in METHODS if m != "tf.data")
    rows, speedups = [], []
    for set_name, paths in data_sets(args.data, limit):
        _warm_page_cache(paths)
        wall_rates, cpu_rates, others_cores = measure(
            set_name, paths, methods, args.repeats, max_pixels
        )
        for method in methods:
            rows.append(
                [
                    set_name,
                    method,
                    len(paths),
                    wall_rates[method],
                    cpu_rates[method],
                    stats.ratio(cpu_rates[method], cpu_rates["tutorial"]),
                    stats.ratio(wall_rates[method], wall_rates["tutorial"]),
                    others_cores[method],
                ]
            )
        speedups.append(stats.ratio(cpu_rates["ours, worker path"], cpu_rates["tutorial"]))
    print(
        stats.format_table(
            [
                "data set",
                "method",
                "images",
                "images/s (wall)",
                "images per CPU-s",
                "x tutorial (CPU)",
                "x tutorial (wall)",
                "others' CPU (cores)",
            ],
            rows,
        )
    )
    speedup = min(speedups)
    print(
        f"target: ours, worker path >= {TARGET:g}x the tutorial's full decode, per core,"
        f" on each data set: {stats.target_verdict(speedup, TARGET, at_most=False)}"
    )
    print(f"decode speedup (worker path, the smaller of the data sets): {speedup:.2f}x")
    return 0
