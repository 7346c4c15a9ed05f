"""recsql's Python functions on a DuckDB connection: text cleaning, cached vectors, neighbours.

dbt gets them through the plugin in ``udfs/``; any other session attaches them with one call::

    import duckdb, recsql.functions
    con = duckdb.connect("warehouse/recsql.duckdb")
    recsql.functions.register_functions(con)
    con.sql("select recsql_embed('greek yoghurt') as v")

All are Arrow-typed (vectorised): DuckDB hands them up to 2048 rows per call. Null in, null out.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
from duckdb import sqltypes

from recsql import embeddings, text
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


def _embed_function(model: str | None) -> Callable[[pa.Array], pa.Array]:
    def embed(values: pa.Array) -> pa.Array:
        texts = values.to_pylist()
        present = [i for i, value in enumerate(texts) if value is not None]
        vectors = embeddings.embed_texts([texts[i] for i in present], model=model)
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
    def nearest(vectors: pa.Array, ks: pa.Array, names: pa.Array) -> pa.Array:
        vectors, ks, names = (_contiguous(array) for array in (vectors, ks, names))
        count = len(vectors)
        result: list[list[dict] | None] = [None] * count
        valid = [
            i for i in range(count) if vectors[i].is_valid and ks[i].is_valid and names[i].is_valid
        ]
        by_query: dict[tuple[str, int], list[int]] = {}
        for i in valid:
            by_query.setdefault((names[i].as_py(), ks[i].as_py()), []).append(i)
        flat = vectors.flatten().to_numpy(zero_copy_only=False) if count else np.zeros(0)
        matrix = np.asarray(flat, dtype=np.float32).reshape(count, -1) if count else flat
        for (name, k), rows in by_query.items():
            index = indexes.get(name)
            ids, similarities = index.query_vectors(matrix[rows], k)
            for row, row_ids, row_sims in zip(rows, ids, similarities, strict=True):
                result[row] = [
                    {"item_id": item, "similarity": float(sim)}
                    for item, sim in zip(row_ids, row_sims, strict=True)
                ]
        return pa.array(result, type=_ARROW_NEIGHBOURS)

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
