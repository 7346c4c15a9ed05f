"""recsql's Python functions on a DuckDB connection: text cleaning, cached vectors, neighbours.

dbt gets them through the plugin in ``udfs/``; any other session attaches them with one call::

    import duckdb, recsql.functions
    con = duckdb.connect("warehouse/recsql.duckdb")
    recsql.functions.register_functions(con)
    con.sql("select recsql_embed('greek yoghurt') as v")

All are Arrow-typed (vectorised): DuckDB hands them up to 2048 rows per call. Null in, null out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from duckdb import sqltypes

from recsql import embeddings, progress, text
from recsql.ann import ItemIndex

_ARROW_NEIGHBOURS = pa.list_(pa.struct([("item_id", pa.string()), ("similarity", pa.float32())]))

# DuckDB keeps only a borrowed reference to a registered callable: keep ours alive.
_REGISTERED: list[Callable] = []


def _map_text(function: Callable[[str], str]) -> Callable[[pa.Array], pa.Array]:
    def apply(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else function(v) for v in values.to_pylist()], pa.string()
        )

    return apply


def _contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


class _EncodeProgress:
    """One progress bar across the chunks DuckDB feeds ``recsql_embed`` in a statement.

    A scalar function is never told how many rows are coming, so the bar counts the texts
    looked up and those actually encoded, with the rate; a pause of a minute starts a new bar.
    Silent until an encode is long enough to be worth watching.
    """

    def __init__(self) -> None:
        self._bar = None
        self._started = self._last = 0.0
        self._seen = self._encoded = 0

    def begin(self) -> None:
        """Before a chunk: a pause of a minute means a new statement, so a new count."""
        now = time.time()
        if now - self._last > 60:
            self.close()
            self._started = now

    def update(self, seen: int, encoded: int) -> None:
        """After a chunk: add what it looked up and encoded."""
        self._last = time.time()
        self._seen += seen
        self._encoded += encoded
        if self._bar is None and self._encoded >= embeddings.PROGRESS_THRESHOLD:
            self._bar = progress.bar(unit="text", desc="recsql_embed encoded", dynamic_ncols=True)
            self._bar.start_t = self._bar.last_print_t = self._started  # tqdm times with time.time
        if self._bar is not None:
            self._bar.update(self._encoded - self._bar.n)
            self._bar.set_postfix_str(f"{self._seen:,} looked up", refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._seen, self._encoded = None, 0, 0


def _embed_function(model: str | None) -> Callable[[pa.Array], pa.Array]:
    encode_progress = _EncodeProgress()

    def embed(values: pa.Array) -> pa.Array:
        texts = _contiguous(values).to_pylist()
        present = [i for i, value in enumerate(texts) if value is not None]
        cache = embeddings.default_cache(model)
        encoded = cache.encoded
        encode_progress.begin()
        vectors = embeddings.embed_texts(
            [texts[i] for i in present], cache=cache, model=model, show_progress=False
        )
        encode_progress.update(len(present), cache.encoded - encoded)
        flat = np.zeros((len(texts), embeddings.DIMENSION), dtype=np.float32)
        flat[present] = vectors
        mask = np.ones(len(texts), dtype=bool)
        mask[present] = False
        return pa.FixedSizeListArray.from_arrays(
            pa.array(flat.ravel()), embeddings.DIMENSION, mask=pa.array(mask)
        )

    return embed


class _IndexCache:
    """The last loaded index per name, reloaded when a build points current.json elsewhere."""

    def __init__(self) -> None:
        self._indexes: dict[str, tuple[float, ItemIndex]] = {}

    def get(self, name: str) -> ItemIndex:
        from recsql import paths

        pointer = paths.index_dir() / name / "current.json"
        stamp = pointer.stat().st_mtime_ns if pointer.exists() else -1
        cached = self._indexes.get(name)
        if cached is None or cached[0] != stamp:
            self._indexes[name] = (stamp, ItemIndex.load_current(name))
        return self._indexes[name][1]


def _nearest_function(indexes: _IndexCache) -> Callable[..., pa.Array]:
    """Searches each (index, k) group of rows in one hnswlib call and assembles the list
    column from flat arrays (offsets + struct of ids and similarities): no per-row objects."""

    def nearest(vectors: pa.Array, ks: pa.Array, names: pa.Array) -> pa.Array:
        vectors, ks, names = (_contiguous(array) for array in (vectors, ks, names))
        count = len(vectors)
        valid = pc.and_(pc.and_(pc.is_valid(vectors), pc.is_valid(ks)), pc.is_valid(names))
        valid = valid.to_numpy(zero_copy_only=False)
        k_of = ks.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        name_of = names.to_pylist()
        width = vectors.type.list_size
        # .values keeps null rows' slots (flatten() drops them), so row i stays at i * width
        flat = vectors.values.slice(vectors.offset * width, count * width)
        flat = flat.to_numpy(zero_copy_only=False)
        matrix = np.asarray(flat, dtype=np.float32).reshape(count, width)
        lengths = np.zeros(count, dtype=np.int64)
        rows_parts, ids_parts, sims_parts = [], [], []
        groups: dict[tuple[str, int], list[int]] = {}
        for row in np.flatnonzero(valid):
            groups.setdefault((name_of[row], int(k_of[row])), []).append(int(row))
        for (name, k), rows in groups.items():
            index = indexes.get(name)
            labels, similarities = index.search(matrix[rows], k)
            lengths[rows] = labels.shape[1]
            rows_parts.append(np.repeat(rows, labels.shape[1]))
            ids_parts.append(index.item_id_array.take(pa.array(labels.ravel())))
            sims_parts.append(similarities.ravel())
        if rows_parts:
            order = pa.array(np.argsort(np.concatenate(rows_parts), kind="stable"))
            ids = pa.concat_arrays(ids_parts).take(order)
            sims = pa.array(np.concatenate(sims_parts)).take(order)
        else:
            ids, sims = pa.array([], pa.string()), pa.array([], pa.float32())
        values = pa.StructArray.from_arrays([ids, sims], names=["item_id", "similarity"])
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        return pa.ListArray.from_arrays(
            offsets, values, type=_ARROW_NEIGHBOURS, mask=pa.array(~valid)
        )

    return nearest


def register_functions(con: duckdb.DuckDBPyConnection, *, model: str | None = None) -> None:
    """Register recsql_clean_text, recsql_normalize_text, recsql_embed, recsql_nearest_items
    and recsql_embedding_model() on a connection (session-scoped, not stored)."""
    model = model or None
    model_id, _ = embeddings.configured_model(model)
    vector = duckdb.array_type(sqltypes.FLOAT, embeddings.DIMENSION)
    neighbours = duckdb.list_type(
        duckdb.struct_type({"item_id": sqltypes.VARCHAR, "similarity": sqltypes.FLOAT})
    )
    functions = [
        ("recsql_clean_text", _map_text(text.clean_text), [sqltypes.VARCHAR], sqltypes.VARCHAR),
        (
            "recsql_normalize_text",
            _map_text(text.normalise_text),
            [sqltypes.VARCHAR],
            sqltypes.VARCHAR,
        ),
        ("recsql_embed", _embed_function(model), [sqltypes.VARCHAR], vector),
        (
            "recsql_nearest_items",
            _nearest_function(_IndexCache()),
            [vector, sqltypes.INTEGER, sqltypes.VARCHAR],
            neighbours,
        ),
    ]
    for name, function, parameters, returns in functions:
        con.create_function(
            name,
            function,
            parameters,
            returns,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
        _REGISTERED.append(function)

    def embedding_model() -> str:
        return model_id

    con.create_function(
        "recsql_embedding_model", embedding_model, [], sqltypes.VARCHAR, side_effects=False
    )
    _REGISTERED.append(embedding_model)
