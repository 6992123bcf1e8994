"""Labels from file names (Kaggle) or from folders (Keras), found from the files."""

import pytest

from catdog_queue.shared.layout import FOLDERS, NAMES, case_clashes, detect_layout, label_of
from catdog_queue.shared.listing import DataError, list_labelled_images, require_trainable


def touch(folder, *paths):
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(b"\xff\xd8\xff")


def test_labels_come_from_names_or_from_folders():
    assert label_of("cat.1.jpg") == "cat" and label_of("1.jpg") is None
    assert label_of("cat/0001.jpg", FOLDERS) == "cat" and label_of("0001.jpg", FOLDERS) is None


@pytest.mark.parametrize(
    ("paths", "layout"),
    [
        (["cat.1.jpg", "dog.1.jpg"], NAMES),  # Kaggle's train/
        (["cat/1.jpg", "dog/x.png"], FOLDERS),  # Keras's image_dataset_from_directory
        (["cat/cat.1.jpg", "dog/dog.1.jpg"], NAMES),  # both agree: the names win
        (["cat/1.jpg", "2.jpg"], NAMES),  # not all in folders
        ([], NAMES),
    ],
)
def test_the_layout_is_found_from_the_files(paths, layout):
    assert detect_layout(paths) == layout


def test_a_keras_folder_trains_with_folder_labels(tmp_path):
    touch(tmp_path, "cat/a.jpg", "cat/b.jpg", "dog/c.jpg", "dog/sub/d.png", "notes.txt")
    listing = list_labelled_images(tmp_path)
    assert listing.layout == FOLDERS
    assert [(f.relative_path, f.label) for f in listing.files] == [
        ("cat/a.jpg", "cat"),
        ("cat/b.jpg", "cat"),
        ("dog/c.jpg", "dog"),
        ("dog/sub/d.png", "dog"),
    ]
    assert listing.rejected == [{"path": "notes.txt", "reason": listing.rejected[0]["reason"]}]
    assert "not an image" in listing.rejected[0]["reason"]
    require_trainable(listing)


def test_a_kaggle_folder_rejects_names_without_a_label(tmp_path):
    touch(tmp_path, "cat.1.jpg", "dog.2.jpg", "3.jpg")
    listing = list_labelled_images(tmp_path)
    assert listing.layout == NAMES and listing.labels == ["cat", "dog"]
    assert [entry["path"] for entry in listing.rejected] == ["3.jpg"]
    assert "LABEL.N.EXT" in listing.rejected[0]["reason"]


def test_labels_that_differ_only_in_case_are_a_usage_error(tmp_path):
    touch(tmp_path, "Cat.1.jpg", "cat.2.jpg", "dog.3.jpg")
    assert case_clashes(["Cat", "cat", "dog"]) == [["Cat", "cat"]]
    with pytest.raises(DataError, match=r"differ only in case.*\['Cat', 'cat'\]"):
        require_trainable(list_labelled_images(tmp_path))
