"""Progress on the submitting machine: images decoded, then epochs trained.

A terminal gets live bars (tqdm); logs and CI get plain lines: one per epoch,
and one per tenth of the images decoded or predicted.
"""

import sys
import time

from tqdm import tqdm


class LineBar:
    """The part of tqdm's interface used here, printing a line at each step."""

    def __init__(self, total, desc, stream, step):
        self.total, self.desc, self.stream, self.step = total, desc, stream, step
        self.n = 0
        self.postfix = ""
        self.printed_steps = 0
        self.started = time.monotonic()

    def update(self, delta) -> None:
        self.n += delta
        steps = int(self.n / self.step + 1e-9)
        if steps > self.printed_steps:
            self.printed_steps = steps
            self._print()

    def set_postfix(self, values: dict, refresh=False) -> None:
        self.postfix = " ".join(f"{name}={value}" for name, value in values.items())

    def _print(self) -> None:
        done = f"{self.n:.0f}/{self.total}"
        if self.desc.startswith("train"):
            done = f"epoch {self.n:.0f}/{self.total}"
        seconds = time.monotonic() - self.started
        line = f"{self.desc}: {done} [{seconds:.0f}s] {self.postfix}".rstrip()
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        return None


class JobProgress:
    """Bars in turn: ``decode`` (images), then ``train`` (epochs) or ``predict`` (images).

    With ``several_runs`` (``compare``) each run's state changes get a line
    and its epochs a bar of its own, named after the run.
    """

    def __init__(self, stream=None, several_runs: bool = False):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.several_runs = several_runs
        self.decode_bar = None
        self.train_bar = None
        self.predict_bar = None
        self.upload_bar = None
        self.train_name = "train"

    def decode(self, done: int, total: int) -> None:
        if self.decode_bar is None:
            self.decode_bar = self._bar(total, "decode", "img", max(total / 10, 1))
        self.decode_bar.update(done - self.decode_bar.n)
        if done >= total:
            self.decode_bar.close()

    def uploaded(self, done: int, total: int) -> None:
        if self.upload_bar is None:
            self.upload_bar = self._bar(total, "upload", "img", max(total / 10, 1))
        self.upload_bar.update(done - self.upload_bar.n)

    def note(self, message: str) -> None:
        """A line about the job as a whole (queued behind other jobs, a lost broker)."""
        if self.interactive:
            tqdm.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def task_state(self, name: str, state: str) -> None:
        """A long task changed state: a line for what a bar cannot show."""
        if self.several_runs:
            if state in ("SUCCESS", "FAILURE") and self.train_name == f"train {name}":
                self.close()
            self.note(f"run {name}: {state.lower()}")
            return
        messages = {
            "PENDING": "waiting for a gpu worker",
            "STARTED": "gpu worker started",
            "ASSEMBLING": "assembling shards",
            "WAITING": "waiting for another copy of this task",
        }
        if state in messages and self.train_bar is None and self.predict_bar is None:
            self.note(f"gpu: {messages[state]}")

    def task_progress(self, name: str, state: str, info: dict) -> None:
        """Progress published by a long task: ``TRAINING`` epochs, ``PREDICTING`` images."""
        if state == "TRAINING":
            wanted = f"train {name}" if self.several_runs else "train"
            if self.train_name != wanted and self.train_bar is not None:
                self.train_bar.close()
                self.train_bar = None
            self.train_name = wanted
            self.epoch(info)
        elif state == "PREDICTING":
            self.predicted(info.get("done", 0), info.get("total", 0))

    def predicted(self, done: int, total: int) -> None:
        if self.predict_bar is None:
            self.predict_bar = self._bar(total, "predict", "img", max(total / 10, 1))
        self.predict_bar.update(done - self.predict_bar.n)

    def epoch(self, progress: dict) -> None:
        epochs = progress.get("epochs", 0)
        if self.train_bar is None:
            self.train_bar = self._bar(epochs, self.train_name, "epoch", 1)
        if self.interactive:
            shown, done = progress, progress.get("epoch", 0) + progress.get("fraction", 0.0)
        else:
            # Logs: one line per finished epoch, with its held-out figures.
            shown = progress.get("completed") or {"epoch": 0}
            done = shown["epoch"]
        self.train_bar.set_postfix(
            {
                name: f"{value:.4f}"
                for name, value in shown.items()
                if name in ("loss", "accuracy", "val_loss", "val_accuracy")
            },
            refresh=False,
        )
        self.train_bar.update(min(done, epochs) - self.train_bar.n)

    def _bar(self, total, desc: str, unit: str, step: float):
        if not self.interactive:
            return LineBar(total, desc, self.stream, step)
        if unit == "epoch":
            return tqdm(
                total=total,
                desc=desc,
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| epoch {n:.1f}/{total}"
                " [{elapsed}<{remaining}{postfix}]",
            )
        return tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True)

    def close(self) -> None:
        for bar in (self.decode_bar, self.train_bar, self.predict_bar, self.upload_bar):
            if bar is not None:
                bar.close()
        self.train_bar = None
