"""Write a finished job's artifacts into the output folder.

Each file is written under a temporary name and renamed into place, so an
interrupted collect never leaves a half-written model behind.
"""

import json
import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def save_artifacts(store, artifact_keys: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, key in artifact_keys.items():
        path = out_dir / name
        write_atomically(path, store.get_artifact(key))
        written.append(path)
    return written


def save_metrics(metrics: dict, out_dir: Path) -> Path:
    path = out_dir / "metrics.json"
    write_atomically(path, (json.dumps(metrics, indent=2) + "\n").encode())
    return path


def plot_history(history: list[dict], out_dir: Path, title: str) -> Path:
    """Loss and accuracy per epoch, train and held-out, side by side."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on workers or servers
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, [row.get(metric) for row in history], label="train")
        axis.plot(epochs, [row.get(f"val_{metric}") for row in history], label="held-out")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path = out_dir / "history.png"
    temporary = out_dir / ".history.png.partial"
    figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)
    os.replace(temporary, path)
    return path


def plot_comparison(rows: list[dict], out_dir: Path, title: str) -> Path:
    """Held-out accuracy and loss per epoch, one curve per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("val_accuracy", "val_loss")):
        for row in rows:
            values = [epoch.get(metric) for epoch in row["history"]]
            axis.plot(range(1, len(values) + 1), values, label=row["name"])
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric.replace("val_", "held-out "))
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path = out_dir / "compare.png"
    temporary = out_dir / ".compare.png.partial"
    figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)
    os.replace(temporary, path)
    return path
