"""The disjoint, stratified, reproducible train/test split."""

import numpy as np
import pytest

from catdog_queue.shared.split import stratified_split


def dataset(counts: dict) -> tuple[list[str], np.ndarray]:
    """Paths ``LABEL.N.jpg`` and label indices, labels numbered in ``counts`` order."""
    paths, labels = [], []
    for index, (label, count) in enumerate(counts.items()):
        for number in range(count):
            paths.append(f"{label}.{number}.jpg")
            labels.append(index)
    return paths, np.array(labels, dtype=np.int64)


COUNTS = {"cat": 57, "dog": 43, "fox": 10, "owl": 3, "yak": 2}


def test_split_is_disjoint_and_covers_every_index():
    paths, labels = dataset(COUNTS)

    train, test = stratified_split(paths, labels, 0.25, seed=1)

    assert len(train) > 0 and len(test) > 0
    assert set(train).isdisjoint(test)
    assert sorted([*train, *test]) == list(range(len(paths)))
    assert list(train) == sorted(train) and list(test) == sorted(test)
    assert len(set(train)) == len(train) and len(set(test)) == len(test)


@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 0.5, 0.8])
def test_each_label_keeps_its_share(test_size):
    paths, labels = dataset(COUNTS)

    _, test = stratified_split(paths, labels, test_size, seed=3)

    for index, count in enumerate(COUNTS.values()):
        in_test = int(np.sum(labels[test] == index))
        assert abs(in_test - round(count * test_size)) <= 1, (index, in_test)


def test_same_seed_gives_the_same_split():
    paths, labels = dataset(COUNTS)
    first = stratified_split(paths, labels, 0.2, seed=42)
    second = stratified_split(paths, labels, 0.2, seed=42)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_different_seed_gives_a_different_split():
    paths, labels = dataset(COUNTS)
    _, test_a = stratified_split(paths, labels, 0.2, seed=1)
    _, test_b = stratified_split(paths, labels, 0.2, seed=2)
    assert set(test_a) != set(test_b)
    assert len(test_a) == len(test_b)


def test_split_does_not_depend_on_input_order():
    paths, labels = dataset(COUNTS)
    _, test = stratified_split(paths, labels, 0.2, seed=7)
    test_paths = {paths[i] for i in test}

    for shuffle_seed in range(3):
        order = np.random.default_rng(shuffle_seed).permutation(len(paths))
        assert list(order) != list(range(len(paths)))
        shuffled_paths = [paths[i] for i in order]
        shuffled_labels = labels[order]

        _, shuffled_test = stratified_split(shuffled_paths, shuffled_labels, 0.2, seed=7)

        assert {shuffled_paths[i] for i in shuffled_test} == test_paths


def test_every_label_with_two_images_is_on_both_sides():
    counts = {"cat": 2, "dog": 2, "fox": 3, "owl": 40, "yak": 1}
    paths, labels = dataset(counts)

    for test_size in (0.01, 0.5, 0.99):
        train, test = stratified_split(paths, labels, test_size, seed=0)
        for index, count in enumerate(counts.values()):
            if count >= 2:
                assert index in labels[train], (test_size, index)
                assert index in labels[test], (test_size, index)


def test_a_label_with_one_image_lands_on_exactly_one_side():
    paths, labels = dataset({"cat": 10, "dog": 1})
    train, test = stratified_split(paths, labels, 0.2, seed=0)
    assert int(np.sum(labels[train] == 1)) + int(np.sum(labels[test] == 1)) == 1


def test_label_indices_may_be_a_list():
    paths, labels = dataset({"cat": 5, "dog": 5})
    from_list = stratified_split(paths, list(labels), 0.4, seed=0)
    from_array = stratified_split(paths, labels, 0.4, seed=0)
    np.testing.assert_array_equal(from_list[1], from_array[1])


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5])
def test_test_size_outside_zero_one_is_rejected(test_size):
    paths, labels = dataset({"cat": 5, "dog": 5})
    with pytest.raises(ValueError, match="test size"):
        stratified_split(paths, labels, test_size, seed=0)


def test_mismatched_lengths_are_rejected():
    paths, labels = dataset({"cat": 5, "dog": 5})
    with pytest.raises(ValueError, match="one label per path"):
        stratified_split(paths, labels[:-1], 0.2, seed=0)
    with pytest.raises(ValueError, match="one label per path"):
        stratified_split([*paths, "extra.1.jpg"], labels, 0.2, seed=0)
