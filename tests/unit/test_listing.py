"""Listing labelled files, rejecting the others, and cutting them into shards."""

import dataclasses
import os
import socket
import threading

import pytest

from catdog_queue.shared.decode import PREPROCESSING_VERSION
from catdog_queue.shared.listing import (
    DataError,
    ListedFile,
    Listing,
    images_per_shard,
    label_of,
    list_labelled_images,
    mixing_order,
    plan_shards,
    require_trainable,
    shard_key,
)


def touch(path, content=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def rejected_reasons(listing: Listing) -> dict:
    return {entry["path"]: entry["reason"] for entry in listing.rejected}


# --- label_of -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("cat.1.jpg", "cat"),
        ("dog.12499.jpeg", "dog"),
        ("bird.7.png", "bird"),
        ("Cat.1.JPG", "Cat"),
        ("dog.2.JpEg", "dog"),
        ("fox.3.PNG", "fox"),
        ("sub/folder/cat.4.jpg", "cat"),
        ("snow_leopard.x.jpg", "snow_leopard"),
    ],
)
def test_label_of_accepts_label_n_ext(name, label):
    assert label_of(name) == label


@pytest.mark.parametrize(
    "name",
    ["cat.jpg", "cat.1.gif", "cat.1.2.jpg", ".1.jpg", "cat..jpg", "cat.1.jpg.txt", "cat1jpg"],
)
def test_label_of_rejects_other_names(name):
    assert label_of(name) is None


# --- list_labelled_images -----------------------------------------------------


def test_lists_labels_from_names_in_any_case(tmp_path):
    for name in ["dog.2.JPEG", "cat.1.jpg", "cat.3.Png", "bird.1.jpeg", "dog.5.PNG", "cat.9.JPG"]:
        touch(tmp_path / name)

    listing = list_labelled_images(tmp_path)

    assert listing.rejected == []
    assert {f.relative_path: f.label for f in listing.files} == {
        "dog.2.JPEG": "dog",
        "cat.1.jpg": "cat",
        "cat.3.Png": "cat",
        "bird.1.jpeg": "bird",
        "dog.5.PNG": "dog",
        "cat.9.JPG": "cat",
    }
    assert listing.total == 6
    assert listing.root == tmp_path.resolve()


def test_label_map_is_sorted_and_unique(tmp_path):
    for name in ["zebra.1.jpg", "ant.1.jpg", "mole.1.jpg", "ant.2.jpg", "zebra.2.png"]:
        touch(tmp_path / name)

    assert list_labelled_images(tmp_path).labels == ["ant", "mole", "zebra"]


def test_files_are_listed_in_sorted_path_order(tmp_path):
    names = ["dog.2.jpg", "cat.10.jpg", "cat.1.jpg", "b/dog.1.jpg", "a/cat.3.jpg"]
    for name in names:
        touch(tmp_path / name)

    paths = [f.relative_path for f in list_labelled_images(tmp_path).files]

    assert paths == sorted(os.path.normpath(name) for name in names)


def test_records_size_and_mtime(tmp_path):
    path = touch(tmp_path / "cat.1.jpg", b"12345")
    os.utime(path, ns=(1_000_000_000, 1_234_567_890_123))

    (listed,) = list_labelled_images(tmp_path).files

    assert listed == ListedFile("cat.1.jpg", 5, 1_234_567_890_123, "cat")


def test_rejects_bad_names_and_non_images_with_a_reason(tmp_path):
    touch(tmp_path / "cat.1.jpg")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "cat.2.gif")
    touch(tmp_path / "cat.jpg")
    touch(tmp_path / "cat.1.2.png")
    touch(tmp_path / "README")

    listing = list_labelled_images(tmp_path)

    assert [f.relative_path for f in listing.files] == ["cat.1.jpg"]
    reasons = rejected_reasons(listing)
    assert set(reasons) == {"notes.txt", "cat.2.gif", "cat.jpg", "cat.1.2.png", "README"}
    for path in ("notes.txt", "cat.2.gif", "README"):
        assert "not an image file" in reasons[path]
    for path in ("cat.jpg", "cat.1.2.png"):
        assert "LABEL.N.EXT" in reasons[path]
    assert listing.total == 6


def test_skips_hidden_files_and_folders(tmp_path):
    touch(tmp_path / "cat.1.jpg")
    touch(tmp_path / ".DS_Store")
    touch(tmp_path / ".cat.2.jpg")
    touch(tmp_path / ".git" / "dog.1.jpg")
    touch(tmp_path / "sub" / ".hidden" / "dog.2.jpg")

    listing = list_labelled_images(tmp_path)

    assert [f.relative_path for f in listing.files] == ["cat.1.jpg"]
    assert listing.rejected == []
    assert listing.total == 1


def test_walks_nested_folders(tmp_path):
    touch(tmp_path / "train" / "cats" / "cat.1.jpg")
    touch(tmp_path / "train" / "dogs" / "deeper" / "dog.1.png")
    touch(tmp_path / "train" / "dogs" / "readme.md")

    listing = list_labelled_images(tmp_path)

    assert {f.relative_path: f.label for f in listing.files} == {
        os.path.join("train", "cats", "cat.1.jpg"): "cat",
        os.path.join("train", "dogs", "deeper", "dog.1.png"): "dog",
    }
    assert [entry["path"] for entry in listing.rejected] == [
        os.path.join("train", "dogs", "readme.md")
    ]


def test_links_are_rejected_not_followed(tmp_path):
    touch(tmp_path / "cat.1.jpg")
    touch(tmp_path / "elsewhere" / "cat.7.jpg")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dog.1.jpg").symlink_to(tmp_path / "nowhere.jpg")  # broken
    (tmp_path / "data" / "dog.2.jpg").symlink_to(tmp_path / "cat.1.jpg")  # to a file
    (tmp_path / "data" / "more").symlink_to(tmp_path / "elsewhere")  # to a folder
    touch(tmp_path / "data" / "cat.2.jpg")

    listing = list_labelled_images(tmp_path / "data")

    assert [f.relative_path for f in listing.files] == ["cat.2.jpg"]
    reasons = rejected_reasons(listing)
    assert set(reasons) == {"dog.1.jpg", "dog.2.jpg", "more"}
    assert all("symbolic link" in reason for reason in reasons.values())
    assert listing.total == 4


def test_the_data_folder_itself_may_be_a_link(tmp_path):
    touch(tmp_path / "real" / "cat.1.jpg")
    (tmp_path / "link").symlink_to(tmp_path / "real")

    listing = list_labelled_images(tmp_path / "link")

    assert [f.relative_path for f in listing.files] == ["cat.1.jpg"]


def list_in_a_thread(folder) -> Listing:
    """The listing, or a failure if it blocks (a FIFO opened would)."""
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(list_labelled_images(folder)))
    worker.start()
    worker.join(timeout=30)
    assert outcome, "listing blocked"
    return outcome[0]


def test_fifos_sockets_and_folders_named_like_images_are_rejected(tmp_path):
    touch(tmp_path / "cat.1.jpg")
    os.mkfifo(tmp_path / "cat.2.jpg")
    touch(tmp_path / "dog.3.jpg" / "dog.4.jpg")  # a folder named like an image, with an image
    touch(tmp_path / "sub" / "dog.5.png")  # an ordinary subfolder
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "dog.6.jpg"))

        listing = list_in_a_thread(tmp_path)

    assert [f.relative_path for f in listing.files] == [
        "cat.1.jpg",
        os.path.join("sub", "dog.5.png"),
    ]
    reasons = rejected_reasons(listing)
    assert reasons == {
        "cat.2.jpg": "a FIFO (named pipe), not a regular file",
        "dog.3.jpg": "a folder named like an image: not walked into",
        "dog.6.jpg": "a socket, not a regular file",
    }
    assert listing.total == 5


LIST = """
import sys
from catdog_queue.shared.listing import list_labelled_images
become_nobody()
listing = list_labelled_images(sys.argv[1])
print([f.relative_path for f in listing.files], listing.rejected)
"""


def test_a_folder_that_cannot_be_listed_is_counted(folder_nobody_can_reach, run_as_nobody):
    touch(folder_nobody_can_reach / "cat.1.jpg")
    touch(folder_nobody_can_reach / "locked" / "cat.2.jpg")
    os.chmod(folder_nobody_can_reach / "locked", 0o700)  # root's; nobody may not look in

    printed = run_as_nobody(LIST, folder_nobody_can_reach)

    assert printed.strip() == (
        "['cat.1.jpg'] [{'path': 'locked', 'reason': 'cannot list: Permission denied'}]"
    )


def test_missing_folder_raises_data_error(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match="not found") as raised:
        list_labelled_images(missing)
    assert str(missing) in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_file_instead_of_a_folder_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list_labelled_images(touch(tmp_path / "cat.1.jpg"))


def test_folder_without_images_is_not_trainable(tmp_path):
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "cat.jpg")

    listing = list_labelled_images(tmp_path)

    assert listing.files == []
    with pytest.raises(DataError, match="no images") as raised:
        require_trainable(listing)
    assert "2 other files" in str(raised.value)


def test_empty_folder_is_not_trainable(tmp_path):
    with pytest.raises(DataError, match="no images"):
        require_trainable(list_labelled_images(tmp_path))


def test_single_label_is_not_trainable(tmp_path):
    touch(tmp_path / "cat.1.jpg")
    touch(tmp_path / "cat.2.jpg")

    with pytest.raises(DataError, match="only the label 'cat'"):
        require_trainable(list_labelled_images(tmp_path))


def test_two_labels_are_trainable(tmp_path):
    touch(tmp_path / "cat.1.jpg")
    touch(tmp_path / "dog.1.jpg")

    assert require_trainable(list_labelled_images(tmp_path)) is None


# --- plan_shards --------------------------------------------------------------


def listing_of(count: int) -> Listing:
    files = [
        ListedFile(f"{'cat' if n % 2 else 'dog'}.{n}.jpg", 100 + n, 1_000 + n, "x")
        for n in range(count)
    ]
    return Listing(root="/data", files=files)


@pytest.mark.parametrize(
    ("count", "shard_size", "sizes"),
    [
        (10, 4, [4, 4, 2]),
        (8, 4, [4, 4]),
        (3, 1, [1, 1, 1]),
        (5, 100, [5]),
        (0, 4, []),
    ],
)
def test_plan_shards_chunks_in_order(count, shard_size, sizes):
    listing = listing_of(count)

    shards = plan_shards(listing, shard_size, image_size=32)

    assert [len(shard["paths"]) for shard in shards] == sizes
    assert [shard["index"] for shard in shards] == list(range(len(sizes)))
    assert all(shard["image_size"] == 32 for shard in shards)
    every_path = [path for shard in shards for path in shard["paths"]]
    mixed = sorted(listing.files, key=mixing_order)
    assert every_path == [f.relative_path for f in mixed]
    assert sorted(every_path) == sorted(f.relative_path for f in listing.files)
    assert len({shard["key"] for shard in shards}) == len(shards)
    for shard, start in zip(shards, range(0, count, shard_size)):
        assert shard["key"] == shard_key(mixed[start : start + shard_size], 32)


@pytest.mark.parametrize("shard_size", [0, -1])
def test_plan_shards_rejects_non_positive_size(shard_size):
    with pytest.raises(ValueError, match="shard size"):
        plan_shards(listing_of(3), shard_size, 32)


def test_plan_shards_mixes_labels_whatever_the_listing_order():
    """Sorted names put every cat before every dog; each shard still holds both."""
    files = [
        ListedFile(f"{label}.{n}.jpg", 100, 1_000, label)
        for label in ("cat", "dog")
        for n in range(500)
    ]
    shards = plan_shards(Listing(root="/data", files=files), 100, 32)
    reversed_listing = Listing(root="/data", files=list(reversed(files)))

    assert (
        plan_shards(reversed_listing, 100, 32) == shards
    )  # the order is the files', not the listing's
    for shard in shards:
        cats = sum(path.startswith("cat") for path in shard["paths"])
        assert 25 <= cats <= 75, cats  # 100 draws: far from all of one label


@pytest.mark.parametrize(
    ("shard_size", "image_size", "max_bytes", "expected"),
    [
        (1000, 256, 64_000_000, 325),  # 1000 x 196,608 bytes would be a 196 MB value
        (1000, 32, 64_000_000, 1000),  # the count binds first
        (10, 512, 1, 1),  # never fewer than one image
    ],
)
def test_shards_are_capped_by_bytes_as_well_as_by_count(
    shard_size, image_size, max_bytes, expected
):
    assert images_per_shard(shard_size, image_size, max_bytes) == expected
    shards = plan_shards(listing_of(700), shard_size, image_size, max_bytes=max_bytes)
    assert max(len(shard["paths"]) for shard in shards) == min(expected, 700)
    assert all(
        len(s["paths"]) * image_size**2 * 3 <= max(max_bytes, image_size**2 * 3) for s in shards
    )


def test_the_byte_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CATDOG_SHARD_MAX_BYTES", str(10 * 64 * 64 * 3))
    assert images_per_shard(1000, 64) == 10
    monkeypatch.setenv("CATDOG_SHARD_MAX_BYTES", "0")
    with pytest.raises(ValueError, match="CATDOG_SHARD_MAX_BYTES"):
        images_per_shard(1000, 64)


# --- shard_key ----------------------------------------------------------------

BASE = [ListedFile("cat.1.jpg", 10, 111, "cat"), ListedFile("dog.1.jpg", 20, 222, "dog")]


def test_shard_key_is_stable_for_the_same_files():
    copy = [dataclasses.replace(f) for f in BASE]
    assert shard_key(BASE, 32) == shard_key(copy, 32)
    assert shard_key(BASE, 32).startswith("catdog:shard:")
    assert len(shard_key(BASE, 32)) == len("catdog:shard:") + 64


@pytest.mark.parametrize(
    "change",
    [
        {"size_bytes": 11},
        {"mtime_ns": 112},
        {"relative_path": "sub/cat.1.jpg"},
        {"relative_path": "cat.2.jpg"},
    ],
)
def test_shard_key_changes_with_each_file_attribute(change):
    changed = [dataclasses.replace(BASE[0], **change), BASE[1]]
    assert shard_key(changed, 32) != shard_key(BASE, 32)


def test_shard_key_changes_with_image_size_and_order():
    assert shard_key(BASE, 64) != shard_key(BASE, 32)
    assert shard_key(list(reversed(BASE)), 32) != shard_key(BASE, 32)
    assert shard_key(BASE[:1], 32) != shard_key(BASE, 32)


def test_shard_key_depends_on_preprocessing_version(monkeypatch):
    before = shard_key(BASE, 32)
    monkeypatch.setattr(
        "catdog_queue.shared.listing.PREPROCESSING_VERSION", PREPROCESSING_VERSION + 1
    )
    assert shard_key(BASE, 32) != before


def test_touching_one_file_changes_only_its_shard_key(tmp_path):
    for number in range(6):
        touch(tmp_path / f"cat.{number}.jpg", b"abc")
    before = plan_shards(list_labelled_images(tmp_path), 2, 32)

    os.utime(tmp_path / "cat.3.jpg", ns=(5_000_000_000, 5_000_000_000))
    after = plan_shards(list_labelled_images(tmp_path), 2, 32)

    changed = [b["key"] != a["key"] for b, a in zip(before, after)]
    holder = next(n for n, shard in enumerate(before) if "cat.3.jpg" in shard["paths"])
    assert changed == [n == holder for n in range(3)]
