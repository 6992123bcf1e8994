"""The command line's progress bars, drawn as widgets in Jupyter.

``client.progress.JobProgress`` decides what to show; only how to draw a
bar changes here. In a notebook stderr is no terminal, so the command line
would print a line per step; ``tqdm.auto`` draws a widget there instead.
"""

import sys

from catdog_queue.client.progress import JobProgress


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where IPython's shell is ZMQInteractiveShell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    instance = shell.get_ipython()
    return instance is not None and type(instance).__name__ == "ZMQInteractiveShell"


class NotebookProgress(JobProgress):
    """Live bars in Jupyter and in a terminal; plain lines elsewhere (logs, CI)."""

    def __init__(self, stream=None, several_runs: bool = False):
        super().__init__(stream, several_runs)
        self.widgets = in_notebook() and _widgets_installed()
        self.interactive = self.interactive or self.widgets

    def _bar(self, total, desc: str, unit: str, step: float):
        if not self.widgets:
            return super()._bar(total, desc, unit, step)
        from tqdm.notebook import tqdm

        return tqdm(total=total, desc=desc, unit=unit)


def _widgets_installed() -> bool:
    """tqdm's notebook bars need ipywidgets; without it, lines are the better choice."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True
