"""Write predictions: Kaggle's ``id,label`` CSV, the rejected files, a contact sheet."""

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

from catdog_queue.shared.listing import label_of
from catdog_queue.shared.metrics import ResultRejected
from catdog_queue.shared.shards import artifact_key

SHEET_IMAGES = 32


def image_id(relative_path: str) -> str:
    """The file's name without its extension: ``123`` for ``123.jpg``."""
    return os.path.splitext(os.path.basename(relative_path))[0]


def id_sort_key(identifier: str):
    """Numeric ids in numeric order first, then the others by name.

    Only ASCII digits count: ``"²".isdigit()`` is true, but it is no number.
    """
    if identifier.isascii() and identifier.isdigit():
        return (0, int(identifier), "")
    return (1, 0, identifier)


def prediction_rows(paths: list[str], probabilities: list[list[float]]) -> list[dict]:
    """One row per image, sorted by id: path, id, probabilities.

    The id is the file's name without its extension (Kaggle's ``123``), or
    its path without the extension where two folders hold the same name, so
    that no two rows share an id.
    """
    stems = [image_id(path) for path in paths]
    repeated = {stem for stem, count in Counter(stems).items() if count > 1}
    rows = [
        {
            "path": path,
            "id": os.path.splitext(path)[0] if stem in repeated else stem,
            "probabilities": row,
        }
        for path, stem, row in zip(paths, stems, probabilities, strict=True)
    ]
    return sorted(rows, key=lambda row: id_sort_key(row["id"]))


def write_csv(rows: list[dict], output, name: str) -> Path:
    """Kaggle's format: ``id,label`` with label = probability of the last label."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "label"])
    for row in rows:
        writer.writerow([row["id"], f"{row['probabilities'][-1]:.6f}"])
    # A file name that is not UTF-8 (kept by Python as surrogates) is written
    # with its bytes escaped, so the CSV itself stays valid UTF-8.
    text = buffer.getvalue().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return output.write(name, text.encode())


def write_rejected(rejected: list[dict], output, name: str) -> Path:
    return output.write(name, (json.dumps(rejected, indent=2) + "\n").encode())


def accuracy_against_names(rows: list[dict], labels: list[str], label_of) -> float | None:
    """Share of labelled file names (``LABEL.N.jpg``) the model got right, else None."""
    index_of = {label: index for index, label in enumerate(labels)}
    scored = [
        (index_of[label_of(row["path"])], row["probabilities"])
        for row in rows
        if label_of(row["path"]) in index_of
    ]
    if not scored or len(scored) < len(rows):
        return None
    right = sum(1 for truth, row in scored if max(range(len(row)), key=row.__getitem__) == truth)
    return right / len(scored)


def contact_sheet(root: Path, rows: list[dict], labels: list[str]) -> bytes:
    """The first images with their predicted label and its probability, 8 to a row (PNG)."""
    from PIL import Image

    from catdog_queue.client.plots import png_of, pyplot

    shown = rows[:SHEET_IMAGES]
    columns = 8
    lines = max(1, (len(shown) + columns - 1) // columns)
    size = (columns * 1.6, lines * 1.9)
    figure, axes = pyplot().subplots(lines, columns, figsize=size, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, row in zip(axes.flat, shown):
        with Image.open(root / row["path"]) as image:
            image.draft("RGB", (128, 128))
            axis.imshow(image.convert("RGB"))
        best = max(range(len(labels)), key=row["probabilities"].__getitem__)
        axis.set_title(f"{row['id']}: {labels[best]} {row['probabilities'][best]:.2f}", fontsize=8)
    return png_of(figure)


def save_predictions(store, job_id: str, outcome, part, labels: list[str], output, csv_name: str):
    """CSV ``csv_name``, rejected files and contact sheet beside it, into ``output``;
    returns counts and accuracy.

    Every path in the task's result must be one of the files the job listed:
    the contact sheet opens them, and nothing from Redis may name a file.
    """
    listing = part.listing
    listed = {path for shard in part.shards for path in shard["paths"]}
    check_outcome(outcome, job_id)
    table = checked_table(store.get_artifact(outcome["predictions"]), listed, len(labels))
    rows = prediction_rows(table["paths"], table["probabilities"])
    rejected = listing["rejected"] + checked_rejections(outcome["rejected"], listed)
    stem = Path(csv_name).stem
    write_csv(rows, output, csv_name)
    write_rejected(rejected, output, f"{stem}.rejected.json")
    if rows:
        output.write(f"{stem}.png", contact_sheet(Path(listing["root"]), rows, labels))
    return {
        "rows": len(rows),
        "rejected": rejected,
        "accuracy": accuracy_against_names(
            rows, labels, lambda path: label_of(path, listing.get("layout", "names"))
        ),
        "last_label": labels[-1],
    }


def print_summary(summary: dict, csv_path: Path, seconds: float, what="in all") -> None:
    accuracy = summary["accuracy"]
    scored = "" if accuracy is None else f"; accuracy against file names {accuracy:.4f}"
    print(
        f"predicted {summary['rows']} images, {seconds:.1f}s {what}"
        f" ({summary['rows'] / max(seconds, 1e-9):.0f} images/s),"
        f" {len(summary['rejected'])} rejected{scored};"
        f" {csv_path} (label = probability of {summary['last_label']!r})"
    )
    for item in summary["rejected"][:10]:
        print(f"  rejected {item['path']}: {item['reason']}")
    if len(summary["rejected"]) > 10:
        print(f"  ... see {csv_path.with_suffix('.rejected.json')}")


def check_outcome(outcome, job_id: str) -> None:
    """The predict task's result: this job's predictions key, and its timing in seconds."""
    if not isinstance(outcome, dict):
        raise ResultRejected(f"the predict task's result is a {type(outcome).__name__}")
    if outcome.get("predictions") != artifact_key(job_id, "predictions.json"):
        raise ResultRejected(f"the predict task's result names {outcome.get('predictions')!r:.80}")
    timings = outcome.get("timings")
    if not isinstance(timings, dict) or not _is_number(timings.get("predict_s")):
        raise ResultRejected(f"the predict task's timings are {timings!r:.80}")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def checked_table(raw: bytes, listed: set, classes: int) -> dict:
    """The predict task's table, if it is one: listed paths, one row of ``classes`` numbers each."""
    try:
        table = json.loads(raw)
        paths, probabilities = table["paths"], table["probabilities"]
    except (ValueError, KeyError, TypeError):
        raise ResultRejected("the predictions in Redis are not a table of paths and rows") from None
    if not (isinstance(paths, list) and isinstance(probabilities, list)):
        raise ResultRejected("the predictions in Redis are not lists")
    if len(paths) != len(probabilities) or not set(paths) <= listed:
        raise ResultRejected("the predictions in Redis name files this job did not list")
    for row in probabilities:
        if not (isinstance(row, list) and len(row) == classes):
            raise ResultRejected(f"a prediction in Redis is not {classes} probabilities")
        if not all(isinstance(value, int | float) and 0 <= value <= 1 for value in row):
            raise ResultRejected("a prediction in Redis is not a probability")
    return table


def checked_rejections(rejected, listed: set) -> list[dict]:
    if not isinstance(rejected, list) or not all(
        isinstance(item, dict)
        and item.get("path") in listed
        and isinstance(item.get("reason"), str)
        for item in rejected
    ):
        raise ResultRejected("the rejected files in Redis are not files this job listed")
    return [{"path": item["path"], "reason": item["reason"]} for item in rejected]
