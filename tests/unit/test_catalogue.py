"""The shard catalogue, window plans and the window reader: pure NumPy, shards in a dict."""

import numpy as np
import pytest

from catdog_queue.training.catalogue import (
    ShardCatalogue,
    batch_count,
    choose_data_mode,
    epoch_rng,
    path_order,
    plan_windows,
)
from catdog_queue.training.windows import ShardChanged, batches, gather

SHAPE = (2, 2, 3)


def make_shards(counts, rejected_per_shard=0):
    """Shards whose image ``i`` (global index) is filled with the value ``i % 251``."""
    shards, headers, start = {}, {}, 0
    for number, count in enumerate(counts):
        key = f"catdog:shard:{number}"
        values = np.arange(start, start + count) % 251
        pixels = np.broadcast_to(values[:, None, None, None], (count, *SHAPE)).astype(np.uint8)
        paths = [
            f"{'cat' if index % 3 else 'dog'}.{index}.jpg" for index in range(start, start + count)
        ]
        rejected = [
            {"path": f"bad.{number}.{n}.jpg", "reason": "x"} for n in range(rejected_per_shard)
        ]
        header = {"dtype": "uint8", "shape": [count, *SHAPE], "paths": paths, "rejected": rejected}
        shards[key] = (header, pixels)
        headers[key] = (header, 100 + pixels.nbytes)
        start += count
    catalogue = ShardCatalogue.from_headers(list(shards), headers)
    fetched = []

    def fetch(key):
        fetched.append(key)
        return shards[key]

    return catalogue, fetch, fetched


def test_catalogue_from_headers_numbers_images_shard_after_shard():
    catalogue, _, _ = make_shards([3, 0, 4], rejected_per_shard=1)
    assert catalogue.counts.tolist() == [3, 0, 4]
    assert catalogue.offsets.tolist() == [0, 3, 3]
    assert catalogue.paths[3] == "dog.3.jpg" and len(catalogue.paths) == 7
    assert len(catalogue.rejected) == 3
    assert catalogue.image_shape == SHAPE
    assert catalogue.pixel_bytes == 7 * 12
    assert catalogue.stored_bytes == 3 * 100 + 7 * 12
    assert catalogue.shard_of(np.array([0, 2, 3, 6])).tolist() == [0, 0, 2, 2]


def test_a_catalogue_of_rejected_images_only_is_refused():
    header = {"dtype": "uint8", "shape": [0, *SHAPE], "paths": [], "rejected": []}
    with pytest.raises(ValueError, match="every image was rejected"):
        ShardCatalogue.from_headers(["k"], {"k": (header, 10)})


def test_window_size_counts_the_largest_shards():
    catalogue, _, _ = make_shards([10, 10, 4])
    assert catalogue.window_shards(10 * 12 * 2) == 2
    assert catalogue.window_shards(1) == 1


@pytest.mark.parametrize(
    ("requested", "pixels", "expected"),
    [("auto", 100, "memory"), ("auto", 101, "stream"), ("memory", 10**12, "memory"),
     ("stream", 1, "stream")],
)  # fmt: skip
def test_data_mode_auto_holds_in_memory_what_fits_the_budget(requested, pixels, expected):
    mode, why = choose_data_mode(requested, pixels, 100)
    assert mode == expected and why
    with pytest.raises(ValueError, match="received 'disk'"):
        choose_data_mode("disk", 1, 1)


def test_windows_cover_every_member_once_and_read_only_shards_that_hold_some():
    catalogue, _, _ = make_shards([4, 4, 4, 4, 4])
    members = np.array([0, 1, 5, 6, 7, 17, 19])  # none in shard 2
    windows = plan_windows(catalogue, members, 2, epoch_rng(7, 0))
    assert sorted(np.concatenate([w.members for w in windows]).tolist()) == members.tolist()
    assert sorted(s for w in windows for s in w.shards) == [0, 1, 4]
    for window in windows:
        assert set(catalogue.shard_of(window.members).tolist()) <= set(window.shards)
    assert [len(w.shards) for w in windows] == [2, 1]


def test_window_order_is_seeded_per_epoch_and_plain_without_a_generator():
    catalogue, _, _ = make_shards([50] * 8)
    members = np.arange(400)

    def order(seed, epoch):
        windows = plan_windows(catalogue, members, 3, epoch_rng(seed, epoch))
        return np.concatenate([w.members for w in windows]).tolist()

    assert order(1, 0) == order(1, 0)  # reproducible, and so resumable
    assert order(1, 0) != order(1, 1)  # a fresh shuffle every epoch
    assert order(1, 0) != order(2, 0)
    first_window = plan_windows(catalogue, members, 3, epoch_rng(1, 0))[0]
    assert len(set(catalogue.shard_of(first_window.members).tolist())) == 3  # mixed shards
    plain = plan_windows(catalogue, members, 3)
    assert np.concatenate([w.members for w in plain]).tolist() == list(range(400))


def test_batches_run_across_windows_and_carry_the_right_pixels_and_labels():
    catalogue, fetch, fetched = make_shards([5, 7, 3, 6])
    members = np.arange(21)
    labels = np.arange(21) * 10
    windows = plan_windows(catalogue, members, 1, epoch_rng(3, 2))
    served = list(batches(catalogue, fetch, [windows], 4, labels))

    assert [len(x) for x, _ in served] == [4, 4, 4, 4, 4, 1]  # one array's batches
    order = np.concatenate([w.members for w in windows])
    seen_pixels = np.concatenate([x for x, _ in served])
    seen_labels = np.concatenate([y for _, y in served])
    np.testing.assert_array_equal(seen_pixels[:, 0, 0, 0], order % 251)
    np.testing.assert_array_equal(seen_labels, order * 10)
    assert len(fetched) == 4  # every shard read once per pass


def test_batches_of_a_window_shorter_than_what_is_carried():
    catalogue, fetch, _ = make_shards([3, 1, 1, 4])
    windows = plan_windows(catalogue, np.arange(9), 1)
    served = list(batches(catalogue, fetch, [windows], 6, np.zeros(9, np.int64)))
    assert [len(x) for x, _ in served] == [6, 3]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in served])[:, 0, 0, 0], range(9))
    assert batch_count(9, 6) == 2


def test_gather_fills_each_array_in_its_own_order_fetching_each_shard_once():
    catalogue, fetch, fetched = make_shards([4, 4, 4])
    train, test = np.array([9, 0, 5, 1, 10]), np.array([11, 2])
    train_pixels, test_pixels = gather(catalogue, fetch, [train, test])
    np.testing.assert_array_equal(train_pixels[:, 1, 1, 2], train)
    np.testing.assert_array_equal(test_pixels[:, 0, 0, 0], test)
    assert sorted(fetched) == sorted(catalogue.keys)


def test_a_shard_that_changed_since_planning_is_an_error():
    catalogue, fetch, _ = make_shards([4, 4])
    catalogue.counts[1] = 5
    with pytest.raises(ShardChanged, match="planned as 5 images"):
        gather(catalogue, fetch, [np.array([0, 6])])


def test_path_order_is_the_sorted_listing_order():
    paths = ["dog.2.jpg", "cat.10.jpg", "cat.1.jpg", "dog.1.jpg"]
    assert path_order(paths, np.array([0, 1, 2, 3])).tolist() == [2, 1, 3, 0]
    assert path_order(paths, np.array([3, 0])).tolist() == [3, 0]


def test_batches_never_straddle_two_passes():
    catalogue, fetch, fetched = make_shards([5, 5])
    one_epoch = plan_windows(catalogue, np.arange(10), 1)
    served = list(batches(catalogue, fetch, [one_epoch, one_epoch], 4, np.arange(10)))
    assert [len(x) for x, _ in served] == [4, 4, 2, 4, 4, 2]  # each epoch ends short
    assert np.concatenate([y for _, y in served]).tolist() == list(range(10)) * 2
    assert len(fetched) == 4
