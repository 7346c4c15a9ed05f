"""hnswlib neighbours against exact search, and the persisted index's reuse."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recsql.ann import DamagedIndex, DamagedIndexWarning, ItemIndex, exact_neighbours


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


def only_index_folder(root) -> object:
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def flip_bytes(path, start: int, count: int = 16) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(start, start + count):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda f: flip_bytes(f, 0), id="header"),
        pytest.param(lambda f: flip_bytes(f, f.stat().st_size // 2), id="body"),
        pytest.param(
            lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 3]), id="truncated"
        ),
        pytest.param(lambda f: f.write_bytes(b""), id="empty"),
    ],
)
def test_a_damaged_index_file_is_rebuilt_from_the_vectors_with_a_warning(tmp_path, damage) -> None:
    vectors, ids = unit_vectors(80), [f"item-{i}" for i in range(80)]
    fresh = ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path)
    expected = fresh.neighbours_of_items(5).to_pydict()
    damage(only_index_folder(tmp_path / "items") / "index.bin")
    with pytest.warns(DamagedIndexWarning, match="index.bin does not match its recorded checksum"):
        rebuilt = ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path)
    assert rebuilt.built
    assert rebuilt.neighbours_of_items(5).to_pydict() == expected  # same graph, same neighbours
    assert not ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path).built


def test_an_index_whose_metadata_is_garbled_or_lacks_a_checksum_is_rebuilt(tmp_path) -> None:
    vectors, ids = unit_vectors(30), [str(i) for i in range(30)]
    ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path)
    meta = only_index_folder(tmp_path / "items") / "meta.json"
    meta.write_text('{"dim": 384, "item_ids": ["0"')
    with pytest.warns(DamagedIndexWarning):
        assert ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path).built
    legacy = json.loads(meta.read_text())
    del legacy["index_sha256"]  # written before indexes carried a checksum
    meta.write_text(json.dumps(legacy))
    with pytest.warns(DamagedIndexWarning, match="records no checksum"):
        assert ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path).built


def test_the_current_index_is_never_handed_to_hnswlib_damaged(tmp_path) -> None:
    vectors, ids = unit_vectors(40), [str(i) for i in range(40)]
    ItemIndex.build_or_load("items", ids, vectors, directory=tmp_path)
    flip_bytes(only_index_folder(tmp_path / "items") / "index.bin", 0)
    with pytest.raises(DamagedIndex, match="dbt build --select int_item_neighbours"):
        ItemIndex.load_current("items", directory=tmp_path)


def test_temporary_folders_of_a_killed_build_are_removed_by_the_next(tmp_path) -> None:
    root = tmp_path / "items"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = [root / f".tmp-{dead.stdout.strip()}-0123456789ab", root / f".tmp-{'ab' * 16}"]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "index.bin").write_bytes(b"half")
    ItemIndex.build_or_load("items", ["a", "b"], unit_vectors(2), directory=tmp_path)
    assert not any(folder.exists() for folder in stale)
