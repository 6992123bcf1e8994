"""Data sets of any size for ``python -m bench scale``, made from the Kaggle images.

Up to the 10,000 originals, a set is a copy of an even spread of them (both
labels alike). Beyond, each original is added again re-encoded: variant
``v`` is resized to a side of ``200 - 12 v`` pixels and saved at JPEG
quality ``95 - 4 v``, so every file is a distinct JPEG (distinct bytes,
distinct decode work) of a real photo. From fewer originals (a subset carried
to a GPU machine) the variants go round again every 12, each round 2 quality
points lower, so that they stay distinct. The sets go into a temporary folder
outside the repository and are kept there between runs (a marker file says
which recipe made them); ``python -m bench scale --clean`` removes them.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

RECIPE = "scale-data-1"  # variants below 12 are unchanged by the rounds: sets made stand
VARIANTS_PER_ROUND = 12
ROOT = Path(tempfile.gettempdir()) / "catdog-bench-scale-data"


def variant_name(original: str, variant: int) -> str:
    """``cat.12.jpg`` -> ``cat.v3n12.jpg``: still ``LABEL.N.jpg``, unique per variant."""
    label, number, extension = original.split(".")
    return f"{label}.v{variant}n{number}.{extension}"


def plan(originals: list[str], count: int) -> list[tuple[str, int]]:
    """``(original name, variant)`` for ``count`` images; variant 0 is the original's bytes.

    ``originals`` is sorted by name (all cats, then all dogs): the subset takes
    every k-th file, so both labels keep their share.
    """
    if count <= len(originals):
        step = len(originals) / count
        return [(originals[int(position * step)], 0) for position in range(count)]
    rounds = -(-count // len(originals))
    chosen = [(name, variant) for variant in range(rounds) for name in originals]
    return chosen[:count]


def _write(job) -> None:
    source_dir, target_dir, original, variant = job
    source, target = Path(source_dir) / original, Path(target_dir) / variant_name(original, variant)
    if variant == 0:
        shutil.copyfile(source, target)
        return
    side, quality = variant_encoding(variant)
    with Image.open(source) as image:
        resized = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    resized.save(target, format="JPEG", quality=quality)


def variant_encoding(variant: int) -> tuple[int, int]:
    """(side in pixels, JPEG quality) of a variant: no two variants alike."""
    step, round_ = variant % VARIANTS_PER_ROUND, variant // VARIANTS_PER_ROUND
    return max(64, 200 - 12 * step), max(40, 95 - 4 * step - 2 * round_)


def make_data_set(source_dir: Path, count: int, say=print) -> Path:
    """The folder of ``count`` images (made once, then reused)."""
    target = ROOT / f"{count}"
    marker = target / ".recipe"
    if marker.exists() and marker.read_text() == f"{RECIPE} {source_dir}":
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    originals = sorted(name for name in os.listdir(source_dir) if name.endswith(".jpg"))
    jobs = [
        (str(source_dir), str(target), name, variant) for name, variant in plan(originals, count)
    ]
    say(f"scale: writing {count} images into {target} (kept for later runs)")
    with multiprocessing.get_context("fork").Pool(len(os.sched_getaffinity(0))) as pool:
        pool.map(_write, jobs, chunksize=200)
    marker.write_text(f"{RECIPE} {source_dir}")  # hidden: the listing skips it
    return target


def clean() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)


def main(argv=None) -> int:
    """``python -m bench.scale_data SOURCE COUNT``: make (or find) the set, print its folder."""
    source, count = argv or sys.argv[1:]
    folder = make_data_set(Path(source).resolve(), int(count), say=_to_stderr)
    print(folder)
    return 0


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
