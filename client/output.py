"""The one way the client writes a result file: inside the output folder, whole or not at all.

The output folder is what the user named (``--out``, or ``runs/<the id they
typed>``). Names of files and subfolders may come from Redis (a compare
run's name), which anyone with the password can write, so each path is
resolved, links included, and refused unless it stays inside that folder.
Each file is written under a temporary name and renamed into place, so an
interrupted collect never leaves half a model behind.
"""

from pathlib import Path

from catdog_queue.shared.atomic_write import write_atomically
from catdog_queue.shared.metrics import ResultRejected


class OutsideOutput(ResultRejected):
    """A file the client was about to write would land outside its output folder."""


class OutputFolder:
    """Where one command writes: ``root`` as the user named it, and a folder inside it."""

    def __init__(self, root, folder: Path | None = None):
        self.root = Path(root)
        self.folder = self.root if folder is None else folder

    def subfolder(self, name: str) -> "OutputFolder":
        """``name`` under this folder (a compare run's), still bound to the same root."""
        return OutputFolder(self.root, self.path(name))

    def path(self, name: str) -> Path:
        """``folder/name``, refused unless it resolves, through any link, inside the root."""
        if not isinstance(name, str) or not name or "\x00" in name:
            self._refuse(name, "not a file name")
        path = self.folder / name
        root = self.root.resolve()
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            self._refuse(name, f"it resolves to {_cut(str(resolved))}, outside {self.root}")
        return path

    def write(self, name: str, data: bytes) -> Path:
        """``data`` into ``folder/name``, replacing it whole; returns the path."""
        return write_atomically(self.path(name), data)

    def _refuse(self, name, why: str):
        raise OutsideOutput(f"refused to write {_cut(repr(name))} into {self.folder}: {why}")


def _cut(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
