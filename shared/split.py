"""A disjoint, stratified, reproducible train/test split.

The tutorial evaluated on images it had trained on. Here every image lands
on exactly one side, each label keeps its share on both sides, and the split
depends only on the seed, the test fraction and the set of file paths: not on
shard order, worker count or which machine decoded what.
"""

import numpy as np


def stratified_split(
    paths: list[str], label_indices: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_indices, test_indices) into ``paths``, both sorted."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test size must be a fraction between 0 and 1, received {test_size}")
    if len(paths) != len(label_indices):
        raise ValueError(
            f"one label per path is needed, received {len(paths)} paths"
            f" and {len(label_indices)} labels"
        )
    # Sort by path first, so the input order (shard order) cannot matter.
    canonical_order = np.array(sorted(range(len(paths)), key=paths.__getitem__), dtype=np.int64)
    label_indices = np.asarray(label_indices)
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(label_indices):
        members = canonical_order[label_indices[canonical_order] == label]
        shuffled = rng.permutation(members)
        # Half up, not to even: 2.5 images round to 3 whichever the label.
        test_count = int(len(members) * test_size + 0.5)
        if len(members) >= 2:
            # Each label with two or more images appears on both sides.
            test_count = min(max(test_count, 1), len(members) - 1)
        test_parts.append(shuffled[:test_count])
    test_indices = np.sort(np.concatenate(test_parts))
    is_test = np.zeros(len(paths), dtype=bool)
    is_test[test_indices] = True
    return np.flatnonzero(~is_test), test_indices
