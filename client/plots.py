"""Figures written next to the results: training history, comparisons, contact sheets."""

import io


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_of(figure, title: str | None = None) -> bytes:
    """Title, tidy, and draw as PNG bytes: ``OutputFolder.write`` puts them in place."""
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot().close(figure)
    return buffer.getvalue()


def _per_epoch_axis(axis, label: str) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_xlabel("epoch")
    axis.set_ylabel(label)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    axis.legend()


def plot_history(history: list[dict], output, title: str):
    """``history.png``: loss and accuracy per epoch, train and held-out, side by side
    (drawn with Pillow: matplotlib's import and layout cost a train job about a second)."""
    from catdog_queue.client.history_plot import draw_history

    return output.write("history.png", draw_history(history, title))


def plot_comparison(rows: list[dict], output, title: str):
    """Held-out accuracy and loss per epoch, one curve per run."""
    figure, axes = pyplot().subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("val_accuracy", "val_loss")):
        for row in rows:
            values = [epoch.get(metric) for epoch in row["history"]]
            axis.plot(range(1, len(values) + 1), values, label=row["name"])
        _per_epoch_axis(axis, metric.replace("val_", "held-out "))
    return output.write("compare.png", png_of(figure, title))
