"""Progress bars on the submitting machine: images decoded, then epochs trained."""

import sys

from tqdm import tqdm


class JobProgress:
    """Two bars in turn: ``decode`` (images) and ``train`` (epochs, loss, accuracy)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        interactive = self.stream.isatty()
        self.bar_options = {
            "file": self.stream,
            "dynamic_ncols": True,
            # Logs and CI get a line every few seconds, not a flood of updates.
            "mininterval": 0.2 if interactive else 5.0,
        }
        self.decode_bar = None
        self.train_bar = None
        self.predict_bar = None
        self.train_name = "train"

    def decode(self, done: int, total: int) -> None:
        if self.decode_bar is None:
            self.decode_bar = tqdm(total=total, desc="decode", unit="img", **self.bar_options)
        self.decode_bar.update(done - self.decode_bar.n)
        if done >= total:
            self.decode_bar.close()

    def phase(self, state: str) -> None:
        messages = {
            "PENDING": "waiting for a gpu worker",
            "STARTED": "gpu worker started",
            "ASSEMBLING": "assembling shards",
        }
        if state in messages and self.train_bar is None and self.predict_bar is None:
            print(f"gpu: {messages[state]}", file=self.stream, flush=True)

    def task_progress(self, state: str, info: dict) -> None:
        """Progress published by a long task: ``TRAINING`` epochs, ``PREDICTING`` images."""
        if state == "TRAINING":
            self.epoch(info)
        elif state == "PREDICTING":
            self.predicted(info.get("done", 0), info.get("total", 0))

    def predicted(self, done: int, total: int) -> None:
        if self.predict_bar is None:
            self.predict_bar = tqdm(total=total, desc="predict", unit="img", **self.bar_options)
        self.predict_bar.update(done - self.predict_bar.n)

    def run_state(self, name: str, state: str) -> None:
        """One line per state change of one of several runs (``compare``)."""
        if state in ("SUCCESS", "FAILURE") and self.train_name == f"train {name}":
            self.close()
        self.stream.write(f"run {name}: {state.lower()}\n")
        self.stream.flush()

    def run_progress(self, name: str, state: str, info: dict) -> None:
        if state == "TRAINING":
            if self.train_name != f"train {name}" and self.train_bar is not None:
                self.train_bar.close()
                self.train_bar = None
            self.train_name = f"train {name}"
            self.epoch(info)

    def epoch(self, progress: dict) -> None:
        epochs = progress.get("epochs", 0)
        if self.train_bar is None:
            self.train_bar = tqdm(
                total=epochs,
                desc=self.train_name,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| epoch {n:.1f}/{total}"
                " [{elapsed}<{remaining}{postfix}]",
                **self.bar_options,
            )
        done = progress.get("epoch", 0) + progress.get("fraction", 0.0)
        self.train_bar.update(min(done, epochs) - self.train_bar.n)
        self.train_bar.set_postfix(
            {
                name: f"{value:.4f}"
                for name, value in progress.items()
                if name in ("loss", "accuracy", "val_loss", "val_accuracy")
            },
            refresh=False,
        )

    def close(self) -> None:
        for bar in (self.decode_bar, self.train_bar, self.predict_bar):
            if bar is not None:
                bar.close()
        self.train_bar = None
