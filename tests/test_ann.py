"""hnswlib neighbours against exact search, and the persisted index's reuse."""

from __future__ import annotations

import numpy as np

from recsql.ann import ItemIndex, exact_neighbours


def unit_vectors(n: int, seed: int = 0, dim: int = 384) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_neighbours_of_items_match_exact_search(tmp_path) -> None:
    vectors = unit_vectors(600)
    ids = [f"item-{i}" for i in range(600)]
    index = ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path)
    table = index.neighbours_of_items(10).to_pydict()
    assert len(table["item_id"]) == 600 * 10
    assert all(a != b for a, b in zip(table["item_id"], table["neighbour_item_id"], strict=True))
    labels, sims = exact_neighbours(vectors, vectors, 11)
    exact = {(ids[i], ids[j]) for i, row in enumerate(labels) for j in row[1:] if j != i}
    found = set(zip(table["item_id"], table["neighbour_item_id"], strict=True))
    recall = len(found & exact) / len(exact)
    assert recall >= 0.98, recall
    first = {(a, b): s for a, b, r, s in zip(*table.values(), strict=True) if r == 1}
    best = {ids[i]: sims[i, 1] for i in range(600)}
    assert max(abs(s - best[a]) for (a, _), s in first.items()) < 1e-4  # same similarity scale


def test_an_unchanged_index_is_loaded_not_rebuilt_and_a_changed_one_rebuilt(tmp_path) -> None:
    vectors, ids = unit_vectors(50), [str(i) for i in range(50)]
    assert ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path).built
    again = ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path)
    assert not again.built
    changed = ItemIndex.build_or_load("items", ids, unit_vectors(50, seed=1), directory=tmp_path)
    assert changed.built and changed.checksum != again.checksum
    assert ItemIndex.load_current("items", directory=tmp_path).checksum == changed.checksum
    assert len([p for p in (tmp_path / "items").iterdir() if p.is_dir()]) == 1  # old one removed


def test_k_larger_than_the_catalog_is_clamped(tmp_path) -> None:
    index = ItemIndex.build_or_load("items", ["a", "b", "c"], unit_vectors(3), directory=tmp_path)
    ids, sims = index.query_vectors(unit_vectors(2, seed=3), k=10)
    assert [len(row) for row in ids] == [3, 3]
    assert index.neighbours_of_items(10).num_rows == 3 * 2
