"""Where a file's label comes from: its name (Kaggle) or its folder (Keras).

Two layouts are read, and which one a folder uses is found from its files:

- ``names``: Kaggle's flat ``train/cat.0.jpg``, ``train/dog.0.jpg``; the label
  is the part of the file name before the first dot.
- ``folders``: what Keras's ``image_dataset_from_directory`` reads,
  ``train/cat/0001.jpg``, ``train/dog/0001.jpg``; the label is the folder.

When every file follows ``LABEL.N.EXT``, the names win (Kaggle's layout, and
the folders of such a tree hold nothing else); otherwise, when every file
lies in a subfolder, the folders are the labels.
"""

import os
import re

NAMES, FOLDERS = "names", "folders"
LAYOUTS = (NAMES, FOLDERS)
LABELLED_NAME = re.compile(r"^(?P<label>[^.]+)\.[^.]+\.(?:jpe?g|png)$", re.IGNORECASE)
DESCRIPTIONS = {
    NAMES: "labels from file names: LABEL.N.jpg",
    FOLDERS: "labels from folder names: LABEL/FILE.jpg, as Keras's image_dataset_from_directory",
}


def label_of(relative_path: str, layout: str = NAMES) -> str | None:
    """The file's label in ``layout``, or None if it has none there."""
    if layout == FOLDERS:
        folder, _, rest = relative_path.partition(os.sep)
        return folder if rest else None
    match = LABELLED_NAME.match(os.path.basename(relative_path))
    return match.group("label") if match else None


def detect_layout(relative_paths: list[str]) -> str:
    """``names`` unless the files are all in subfolders and do not all follow LABEL.N.EXT."""
    named = all(label_of(path, NAMES) is not None for path in relative_paths)
    in_folders = all(label_of(path, FOLDERS) is not None for path in relative_paths)
    return FOLDERS if relative_paths and in_folders and not named else NAMES


def unlabelled_reason(layout: str) -> str:
    if layout == FOLDERS:
        return "not in a label folder (expected LABEL/FILE.jpg)"
    return "name does not follow LABEL.N.EXT (e.g. cat.1.jpg)"


def case_clashes(labels) -> list[list[str]]:
    """Labels that differ only in case (``Cat``, ``cat``): almost surely one label."""
    groups = {}
    for label in labels:
        groups.setdefault(label.casefold(), []).append(label)
    return [sorted(group) for group in groups.values() if len(group) > 1]
