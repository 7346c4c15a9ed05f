"""Nearest items by cosine over unit vectors, with a persisted hnswlib index.

An index is built once per set of vectors: its folder under ``paths.index_dir()/<name>/`` is
named by a checksum of the item ids, the vectors and the build parameters, so a rebuild with
unchanged vectors loads it (no build) and changed vectors get a new one. ``current.json``
points at the latest, so another process (the SQL function ``recsql_nearest_items``) can
load what the last ``dbt build`` made.

hnswlib trusts its file: damaged bytes crash the process (a segfault in the middle of a dbt
build) or raise from deep inside it. So ``meta.json`` records the sha256 of ``index.bin`` and
every load checks it before hnswlib opens the file; ``build_or_load`` rebuilds a damaged index
from the vectors it was given (with a warning), and ``load_current``, which has no vectors,
raises ``DamagedIndex`` saying which build rebuilds it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np
import pyarrow as pa

from recsql import leftovers, paths
from recsql.errors import DamagedFile

THREADS = max(1, min(2, os.cpu_count() or 1))
TEMPORARY_PREFIX = ".tmp-"
LEGACY_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{32}")  # builds before pid-named temporaries
REBUILD = "dbt build --select int_item_neighbours+ --project-dir dbt_project --profiles-dir ."


class DamagedIndex(DamagedFile):
    """An index file that does not match the checksum recorded when it was written."""


class DamagedIndexWarning(UserWarning):
    """A damaged index was found and is being rebuilt from the vectors."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_index_files(folder: Path) -> dict:
    """meta.json of an index folder, after checking index.bin against its recorded sha256.

    Raises ``DamagedIndex`` for a missing or unreadable meta.json, an index without a recorded
    checksum (written before checksums) or one whose bytes differ: hnswlib must not see it.
    """
    meta_path, index_path = folder / "meta.json", folder / "index.bin"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        recorded = meta["index_sha256"]
        if not isinstance(meta.get("item_ids"), list) or not isinstance(meta.get("dim"), int):
            raise KeyError("item_ids")
    except FileNotFoundError as error:
        raise DamagedIndex(f"{meta_path} is missing") from error
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DamagedIndex(f"{meta_path} is damaged or records no checksum") from error
    try:
        actual = file_sha256(index_path)
    except OSError as error:
        raise DamagedIndex(f"{index_path} cannot be read: {error.strerror}") from error
    if actual != recorded:
        raise DamagedIndex(f"{index_path} does not match its recorded checksum (damaged)")
    return meta


def vectors_checksum(item_ids: Sequence[str], vectors: np.ndarray, params: dict) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    digest.update("\x1f".join(item_ids).encode("utf-8"))
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()[:20]


@dataclass
class ItemIndex:
    """An hnswlib inner-product index over unit vectors and the item id of each label."""

    index: hnswlib.Index
    item_ids: list[str]
    ef: int
    checksum: str
    built: bool  # False when loaded from disk

    @classmethod
    def build_or_load(
        cls,
        name: str,
        item_ids: Sequence[str],
        vectors: np.ndarray,
        *,
        M: int = 16,  # noqa: N803 - hnswlib's name
        ef_construction: int = 200,
        ef: int = 100,
        directory: Path | None = None,
    ) -> ItemIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(item_ids):
            raise ValueError(f"{len(item_ids)} ids but vectors of shape {vectors.shape}")
        params = {"M": M, "ef_construction": ef_construction, "dim": int(vectors.shape[1])}
        root = (directory or paths.index_dir()) / name
        checksum = vectors_checksum(list(item_ids), vectors, params)
        folder = root / checksum
        leftovers.remove_stale(root, TEMPORARY_PREFIX, legacy=LEGACY_TEMPORARY)
        built = not folder.exists()
        if not built:
            try:
                verify_index_files(folder)
            except DamagedIndex as error:
                warnings.warn(
                    f"recsql: {error}; rebuilding the '{name}' index from its vectors",
                    DamagedIndexWarning,
                    stacklevel=2,
                )
                shutil.rmtree(folder, ignore_errors=True)
                built = True
        if built:
            index = hnswlib.Index(space="ip", dim=vectors.shape[1])
            index.init_index(
                max_elements=max(1, len(vectors)),
                M=M,
                ef_construction=ef_construction,
                random_seed=42,
            )
            if len(vectors):
                # one thread: a parallel build inserts in a racy order, and the same vectors must
                # give the same graph (same neighbours, same recommendations) on every machine
                index.add_items(vectors, np.arange(len(vectors)), num_threads=1)
            temporary = root / leftovers.temporary_name(TEMPORARY_PREFIX)
            temporary.mkdir(parents=True)
            index.save_index(str(temporary / "index.bin"))
            meta = {
                "dim": int(vectors.shape[1]),
                "item_ids": list(item_ids),
                "index_sha256": file_sha256(temporary / "index.bin"),
            }
            (temporary / "meta.json").write_text(json.dumps(meta))
            try:
                os.replace(temporary, folder)
            except OSError:  # another build made the same index meanwhile
                shutil.rmtree(temporary, ignore_errors=True)
        result = cls.load(folder, ef=ef, checksum=checksum, built=built)
        _write_json_atomically(
            root / "current.json", {"checksum": checksum, "ef": ef, "items": len(item_ids)}
        )
        _remove_other_indexes(root, keep=checksum)
        return result

    @classmethod
    def load(cls, folder: Path, *, ef: int, checksum: str, built: bool = False) -> ItemIndex:
        """Load a verified index folder (``DamagedIndex`` if its files fail the check)."""
        meta = verify_index_files(folder)
        item_ids = meta["item_ids"]
        index = hnswlib.Index(space="ip", dim=meta["dim"])
        index.load_index(str(folder / "index.bin"), max_elements=max(1, len(item_ids)))
        index.set_ef(ef)
        return cls(index, item_ids, ef, checksum, built)

    @classmethod
    def load_current(cls, name: str, directory: Path | None = None) -> ItemIndex:
        root = (directory or paths.index_dir()) / name
        pointer = root / "current.json"
        if not pointer.exists():
            raise FileNotFoundError(
                f"recsql: no '{name}' index under {root}: build int_item_neighbours first "
                "(dbt build --select +int_item_neighbours)"
            )
        try:
            current = json.loads(pointer.read_text())
            folder, ef, checksum = root / current["checksum"], current["ef"], current["checksum"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise DamagedIndex(
                f"recsql: {pointer} is damaged: rebuild it with `{REBUILD}`"
            ) from error
        try:
            return cls.load(folder, ef=ef, checksum=checksum)
        except DamagedIndex as error:
            raise DamagedIndex(f"recsql: {error}: rebuild it with `{REBUILD}`") from error

    def __len__(self) -> int:
        return len(self.item_ids)

    @functools.cached_property
    def item_id_array(self) -> pa.Array:
        """The item ids as Arrow strings, for ``take`` by hnswlib label."""
        return pa.array(self.item_ids, pa.string())

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels, similarities) of the k nearest items per query row; k clamped to the size."""
        k = min(k, len(self))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if k <= 0 or not len(queries):
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        self.index.set_ef(max(self.ef, k))
        labels, distances = self.index.knn_query(queries, k=k, num_threads=THREADS)
        return labels.astype(np.int64), (1.0 - distances).astype(np.float32)

    def query_vectors(self, queries: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        labels, similarities = self.search(queries, k)
        return [[self.item_ids[label] for label in row] for row in labels], similarities

    def vectors_of(self, labels: Sequence[int]) -> np.ndarray:
        return np.asarray(self.index.get_items(list(labels)), dtype=np.float32)

    def neighbours_of_items(self, k: int) -> pa.Table:
        """Every item's k nearest other items: item_id, neighbour_item_id, rank, similarity."""
        n = len(self)
        if n < 2 or k <= 0:
            return _neighbour_table([], [], [], [])
        labels, similarities = self.search(self.vectors_of(range(n)), k + 1)
        own = np.arange(n)[:, None]
        keep = labels != own
        # rows where the item itself was not returned (ANN) keep k+1 others: drop the last
        overfull = keep.sum(axis=1) > k
        keep[overfull, -1] = False
        rows, columns = np.nonzero(keep)
        ranks = np.cumsum(keep, axis=1)[rows, columns]
        ids = np.array(self.item_ids, dtype=object)
        return _neighbour_table(
            ids[rows], ids[labels[rows, columns]], ranks, similarities[rows, columns]
        )


def _neighbour_table(items, neighbours, ranks, similarities) -> pa.Table:
    return pa.table(
        {
            "item_id": pa.array(list(items), pa.string()),
            "neighbour_item_id": pa.array(list(neighbours), pa.string()),
            "rank": pa.array(np.asarray(ranks, dtype=np.int32)),
            "similarity": pa.array(np.asarray(similarities, dtype=np.float32)),
        }
    )


def exact_neighbours(
    vectors: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force (labels, similarities) by inner product: the reference for recall tests."""
    scores = np.asarray(queries, np.float32) @ np.asarray(vectors, np.float32).T
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    labels = np.take_along_axis(top, order, axis=1)
    return labels, np.take_along_axis(scores, labels, axis=1)


def _write_json_atomically(path: Path, payload: dict) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temporary.write_text(json.dumps(payload))
    os.replace(temporary, path)


def _remove_other_indexes(root: Path, keep: str) -> None:
    for folder in root.iterdir():
        if folder.is_dir() and folder.name != keep and not folder.name.startswith(".tmp-"):
            shutil.rmtree(folder, ignore_errors=True)
