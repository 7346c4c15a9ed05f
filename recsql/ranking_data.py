"""Rows of fct_candidates as LightGBM wants them: features, labels, queries in row order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsql import warehouse

BATCH_ROWS = 100_000  # rows converted at a time: small enough for the allocator to reuse
# rows per predict call: on 2 cores a 61-feature model of ~500 trees predicted 150k rows/s in
# calls of 100k rows and 166k in calls of 400k (row-major); column-major was 6-8 % slower
PREDICT_ROWS = 400_000
# DuckDB's bound while it sorts a split's ids: at 5M events (26.6M train rows) the sort took
# 27.6 s at 1GB against 27.2 s at 4GB, and the peak of reading them and choosing the learning
# rows 3,289 MiB against 4,850 (the sort's memory stayed cached beside the id arrays)
KEYS_MEMORY = "1GB"
PACKED = "recsql_numeric_features"  # the numeric features as one FLOAT[n] per row


class TrainingError(Exception):
    """A problem with the data or the request, worded for the person running `recsql train`."""


@dataclass
class RankingData:
    """Rows of one split in query order, ready for LightGBM."""

    features: np.ndarray  # float32, NaN for null
    labels: np.ndarray  # int32 relevance grades
    snapshots: np.ndarray
    users: np.ndarray
    items: np.ndarray
    row_ids: np.ndarray | None = None  # DuckDB rowid of each row in fct_candidates, if a table

    def subset(self, mask: np.ndarray) -> RankingData:
        """The rows of ``mask``; one unbroken run of rows (a snapshot of rows sorted by
        snapshot) is a view, not a copy: the rows that choose the rounds and the ones a fit
        learns from are such runs, and copies of them once doubled training's memory."""
        rows = np.flatnonzero(mask)
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
            mask = slice(int(rows[0]), int(rows[-1]) + 1)
        return RankingData(
            *(
                None if getattr(self, name) is None else getattr(self, name)[mask]
                for name in self.__dataclass_fields__
            )
        )


def group_sizes_in_row_order(*keys: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal keys, in the order the rows are given to LightGBM.

    Refuses rows whose queries are not contiguous (a query seen again after another one): the
    classic bug of counting rows per user in id order while the rows are in another order.
    """
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(change)
    query_keys = list(zip(*(key[starts] for key in keys), strict=True))
    if len(set(query_keys)) != len(query_keys):
        raise TrainingError("rows are not grouped by query: sort them by (snapshot, user_id) first")
    return np.diff(np.append(starts, n))


def load_split(
    con: duckdb.DuckDBPyConnection,
    split: str,
    features: Sequence[str],
    part: tuple[int, int] = (0, 1),
    exclude_seen: bool = False,
    categories: dict[str, list[str]] | None = None,
    positive_queries_only: bool = False,
    keep: np.ndarray | None = None,
    keys: RankingData | None = None,
) -> RankingData:
    """Rows of a split of fct_candidates, sorted by (snapshot, user_id, item_id).

    ``part=(i, n)`` keeps the users whose id hashes to i modulo n: whole users, so a large
    split can be handled n parts at a time in bounded memory. ``exclude_seen`` leaves out items
    the user had before the cutoff (``is_seen``). ``categories`` codes each categorical
    feature's values by their position in its list (unknown values: missing).
    ``positive_queries_only`` keeps the queries (snapshot, user) with a positive, filtered by
    DuckDB so the other rows never reach Python. ``keep``: a mask over the rows as
    ``load_keys`` gives them (same arguments); only those rows are converted and returned, so
    a caller that learns from a sample never holds the whole split as floats; pass those
    ``keys`` too and they are not read again.

    Only the keys are sorted (by DuckDB); the wide feature rows stream unsorted and land at
    their row's place by its row id, so no sort of every feature column has to fit in memory.
    A view (tables a Spark build wrote) has no row ids: its rows are sorted whole instead.
    """
    query = _split_query(split, part, exclude_seen, positive_queries_only)
    if not _has_row_ids(con):
        return _load_sorted(con, split, query, features, categories, keep)
    if keys is None or keys.row_ids is None:
        keys = _keys(con, query, row_ids=True)
    if keep is not None:
        _check_keep(keep, len(keys.labels), split)
        keys = keys.subset(keep)
    where = split_filter(exclude_seen)
    return replace(
        keys,
        features=_features_by_row_id(con, (where, query[1]), keys.row_ids, features, categories),
    )


def load_keys(
    con: duckdb.DuckDBPyConnection,
    split: str,
    part: tuple[int, int] = (0, 1),
    exclude_seen: bool = False,
    positive_queries_only: bool = False,
) -> RankingData:
    """The keys and labels of ``load_split``'s rows, in its order, without the features: cheap
    to read whole, enough to choose the rows worth converting (its ``keep``)."""
    query = _split_query(split, part, exclude_seen, positive_queries_only)
    return _keys(con, query, row_ids=_has_row_ids(con))


def _keys(con: duckdb.DuckDBPyConnection, query: tuple[str, list], row_ids: bool) -> RankingData:
    where, params = query
    # the sort spills past KEYS_MEMORY instead of keeping up to memory_limit beside the arrays
    with warehouse.memory_bound(con, KEYS_MEMORY):
        table = con.sql(
            "select snapshot, user_id, item_id, coalesce(label_grade, 0)::integer as label_grade"
            + (", rowid as row_id" if row_ids else "")
            + f" from fct_candidates where {where} order by snapshot, user_id, item_id",
            params=params,
        ).to_arrow_table()
    return RankingData(
        features=np.empty((table.num_rows, 0), dtype=np.float32),
        labels=table.column("label_grade").to_numpy().astype(np.int32),
        snapshots=key_array(table.column("snapshot").chunks),
        users=key_array(table.column("user_id").chunks),
        items=key_array(table.column("item_id").chunks),
        row_ids=table.column("row_id").to_numpy() if row_ids else None,
    )


def _features_by_row_id(
    con: duckdb.DuckDBPyConnection,
    query: tuple[str, list],
    row_ids: np.ndarray,
    features: Sequence[str],
    categories: dict[str, list[str]] | None,
) -> np.ndarray:
    """The features of the rows ``row_ids`` names, in that order: row-major, so a run of rows
    is a contiguous block LightGBM takes without a copy."""
    matrix = np.empty((len(row_ids), len(features)), dtype=np.float32)
    for places, block in _rows_by_row_id(con, query, row_ids, features, categories):
        matrix[places] = block
    return matrix


def _rows_by_row_id(
    con: duckdb.DuckDBPyConnection,
    query: tuple[str, list],
    row_ids: np.ndarray,
    features: Sequence[str],
    categories: dict[str, list[str]] | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(places in ``row_ids``, their feature rows) in blocks of at least ``PREDICT_ROWS`` rows:
    the split streams from DuckDB in storage order, unsorted, and only wanted rows are kept;
    DuckDB keeps none of the blocks it read (``warehouse.streaming_scan``)."""
    order = np.argsort(row_ids)
    wanted = row_ids[order]
    found = 0
    if len(wanted):
        where, params = query
        with warehouse.streaming_scan(con) as scan:
            reader = scan.sql(
                f"select rowid as row_id, {feature_columns(features, categories)}"
                f" from fct_candidates where {where}",
                params=params,
            ).to_arrow_reader(BATCH_ROWS)
            for batch in batches_of_at_least(reader, PREDICT_ROWS):
                ids = batch.column("row_id").to_numpy()
                at = np.minimum(np.searchsorted(wanted, ids), len(wanted) - 1)
                hit = wanted[at] == ids
                if hit.any():
                    found += int(hit.sum())
                    yield order[at[hit]], feature_matrix(batch.filter(hit), features, categories)
    if found != len(row_ids):
        raise TrainingError(
            f"{len(row_ids) - found:,} rows of fct_candidates went missing while it was read:"
            " was it rebuilt in between? Run it again"
        )


def predict_split(
    con: duckdb.DuckDBPyConnection,
    booster: lgb.Booster,
    split: str,
    features: Sequence[str],
    categories: dict[str, list[str]] | None = None,
) -> tuple[RankingData, np.ndarray]:
    """The split's keys (``load_keys``'s, for ``load_split``) and the booster's score of each row, predicted
    block by block as the rows stream: the split's features are never held whole."""
    query = _split_query(split, (0, 1), False, False)
    iterations = booster.best_iteration or None
    if not _has_row_ids(con):
        data = load_split(con, split, features, categories=categories)
        scores = (
            booster.predict(data.features, num_iteration=iterations) if len(data.labels) else []
        )
        return replace(data, features=data.features[:, :0]), np.asarray(scores, np.float64)
    keys = _keys(con, query, row_ids=True)
    scores = np.empty(len(keys.labels), dtype=np.float64)
    for places, block in _rows_by_row_id(con, query, keys.row_ids, features, categories):
        scores[places] = booster.predict(block, num_iteration=iterations)
    return keys, scores


def batches_of_at_least(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """DuckDB's batches gathered into tables of at least ``rows`` rows (it sends smaller
    ones): each predict call then has enough rows to keep every thread busy."""
    pending: list[pa.RecordBatch] = []
    for batch in reader:
        pending.append(batch)
        if sum(part.num_rows for part in pending) >= rows:
            yield pa.Table.from_batches(pending)
            pending = []
    if any(part.num_rows for part in pending):
        yield pa.Table.from_batches(pending)


def _load_sorted(
    con: duckdb.DuckDBPyConnection,
    split: str,
    query: tuple[str, list],
    features: Sequence[str],
    categories: dict[str, list[str]] | None,
    keep: np.ndarray | None,
) -> RankingData:
    """``load_split`` for a view: every column sorted by DuckDB, read in order, the ``keep``
    rows converted batch by batch into one matrix allocated once."""
    where, params = query
    if keep is None:
        rows = con.execute(
            f"select count(*) from (select 1 from fct_candidates where {where})", params
        ).fetchall()[0][0]
    else:
        rows = int(keep.sum())
    reader = con.sql(
        "select snapshot, user_id, item_id, coalesce(label_grade, 0)::integer as label_grade,"
        f" {feature_columns(features, categories)} from fct_candidates where {where}"
        " order by snapshot, user_id, item_id",
        params=params,
    ).to_arrow_reader(BATCH_ROWS)
    matrix = np.empty((rows, len(features)), dtype=np.float32)
    labels = np.empty(rows, dtype=np.int32)
    keys: dict[str, list[pa.Array]] = {"snapshot": [], "user_id": [], "item_id": []}
    read = start = 0
    for batch in reader:
        if keep is not None:
            mask = keep[read : read + batch.num_rows]
            read += batch.num_rows
            if len(mask) < batch.num_rows:
                break
            batch = batch.filter(mask)
        stop = start + batch.num_rows
        for name, chunks in keys.items():
            chunks.append(batch.column(name))
        labels[start:stop] = batch.column("label_grade").to_numpy()
        feature_matrix(batch, features, categories, out=matrix[start:stop])
        start = stop
    if keep is not None:
        _check_keep(keep, read, split)
    return RankingData(
        features=matrix[:start],
        labels=labels[:start],
        snapshots=key_array(keys["snapshot"]),
        users=key_array(keys["user_id"]),
        items=key_array(keys["item_id"]),
    )


def _check_keep(keep: np.ndarray, rows: int, split: str) -> None:
    if len(keep) != rows:
        raise TrainingError(
            f"the rows of fct_candidates' {split} split do not match the {len(keep):,} keys"
            " they were chosen from: was it rebuilt in between? Run it again"
        )


def _has_row_ids(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether fct_candidates is a stored table (DuckDB's ``rowid``), not a view."""
    try:
        con.execute("select rowid from fct_candidates limit 0")
    except duckdb.BinderException:
        return False
    return True


def _split_query(
    split: str, part: tuple[int, int], exclude_seen: bool, positive_queries_only: bool
) -> tuple[str, list]:
    """Where-clause (with its parameters) of the rows ``load_split`` and ``load_keys`` read."""
    where = split_filter(exclude_seen)
    if positive_queries_only:
        where += " qualify max(coalesce(label_grade, 0)) over (partition by snapshot, user_id) > 0"
    return where, [split, part[1], part[0]]


def split_filter(exclude_seen: bool) -> str:
    """Where-clause of one split's part of fct_candidates; parameters: split, parts, part."""
    return "split = ? and hash(user_id) % ? = ?" + (
        " and not coalesce(is_seen, false)" if exclude_seen else ""
    )


def feature_columns(features: Sequence[str], categories: dict[str, list[str]] | None) -> str:
    """Select-list of the features: the numeric ones packed by DuckDB into one ``FLOAT[n]``
    array per row (``PACKED``), NaN for null, cast in parallel; categorical ones as they are,
    coded later by ``feature_matrix``.

    Packed, the rows arrive row-major in one buffer that becomes the matrix as it is, where n
    separate columns had to be copied one strided column at a time: reading 1.7M serve rows of
    61 features took 0.9 s packed and 1.9 s as columns.
    """
    categories = categories or {}
    numeric = [
        f"coalesce({warehouse.quote(name)}::float, 'nan'::float)"
        for name in features
        if name not in categories
    ]
    parts = [f"[{', '.join(numeric)}]::float[{len(numeric)}] as {PACKED}"] if numeric else []
    return ", ".join(parts + [warehouse.quote(name) for name in features if name in categories])


def key_array(chunks: list[pa.Array]) -> np.ndarray:
    """Ids as a numpy object array in which equal ids are one Python string.

    Arrow would make a new string object per row (~60 bytes each: gigabytes at tens of millions
    of rows, for a column like ``snapshot`` with one value); through a dictionary each row costs
    one pointer.
    """
    if not chunks:
        return np.zeros(0, dtype=object)
    array = pa.concat_arrays(chunks)
    if array.null_count:
        return np.array(array.to_pylist(), dtype=object)
    encoded = array.dictionary_encode()
    names = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    return names[encoded.indices.to_numpy()]


def feature_matrix(
    table: pa.Table | pa.RecordBatch,
    features: Sequence[str],
    categories: dict[str, list[str]] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Arrow rows to a float32 matrix (row-major: LightGBM predicts it fastest and takes it
    without a copy), nulls as NaN (LightGBM's missing value); a categorical column as the
    codes of its values in ``categories``. Rows read with ``feature_columns`` carry the
    numeric features packed (taken as they are, no copy when nothing else is needed); any other
    table has one column per feature. ``out``: the matrix to fill instead of a new one."""
    categories = categories or {}
    names = table.schema.names
    numeric = [i for i, name in enumerate(features) if name not in categories]
    packed = _packed(table.column(PACKED), len(numeric)) if PACKED in names and numeric else None
    if packed is not None and out is None and len(numeric) == len(features):
        return packed
    if out is None:
        out = np.empty((table.num_rows, len(features)), dtype=np.float32)
    if packed is not None:
        out[:, numeric] = packed
    for position, name in enumerate(features):
        if packed is not None and name not in categories:
            continue
        column = table.column(name)
        if name in categories:
            values = pa.array(categories[name], pa.string())
            column = pc.index_in(column.cast(pa.string()), value_set=values)
        if column.type != pa.float32() or column.null_count:
            column = pc.fill_null(column.cast(pa.float64()), np.nan)
        out[:, position] = column.to_numpy()
    return out


def _packed(column: pa.Array | pa.ChunkedArray, width: int) -> np.ndarray:
    """A ``FLOAT[width]`` column as a (rows, width) float32 matrix over Arrow's own buffer
    when it is one chunk (read-only then), else one copy of the chunks."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [chunk.flatten().to_numpy().reshape(-1, width) for chunk in chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty((0, width), dtype=np.float32)


def rank_within_user(users_in_order: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal users (or any sorted key)."""
    n = len(users_in_order)
    if not n:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, users_in_order[1:] != users_in_order[:-1]]
    start_index = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - start_index + 1
