"""EASE (Steck 2019): a closed-form item-to-item linear model, per snapshot.

B = I - P / diag(P) with P = (X'X + lambda I)^-1 over the users x items matrix X of the
snapshot's visible history (int_ease_inputs: the ease_max_items items with most users). A user's
scores are their row of X times B; the top candidates_ease items per ranked user are kept, among
the items they never had when the build leaves those out (int_seen_policy). A Python model
because the solve needs the whole Gram matrix at once; numpy does it in seconds for a few
thousand items. One row per snapshot, user and item.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import linalg, sparse

from recsql.ranking_data import rank_within_user

USERS_PER_BATCH = 4096  # users scored at a time: a dense (batch x items) block


def ease_weights(matrix: sparse.csr_matrix, regularisation: float) -> np.ndarray:
    """B = I - P / diag(P), worked in place: every fresh n x n float64 array costs a page
    fault per 4 KiB, seconds at a few thousand items."""
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += regularisation
    precision = linalg.inv(gram, overwrite_a=True, check_finite=False)
    del gram
    precision /= -np.diag(precision).copy()  # column j over -P_jj
    np.fill_diagonal(precision, 0.0)
    # C order: scipy's sparse @ dense copies an F-ordered right-hand side on every call
    return np.ascontiguousarray(precision, dtype=np.float32)


def top_items(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, scores) of each row's k best positive scores, best first, ties by
    column. Seen items stay: whether to show them is the exclude_seen policy's call.

    Each row's k-th best value is found by a partition of the values alone (a third of the
    time of partitioning their indices); the few items at or above it are then sorted."""
    k = min(k, scores.shape[1])
    if not k or not scores.size:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0, scores.dtype),)
    negated = -scores
    negated.partition(k - 1, axis=1)
    kth = -negated[:, k - 1]
    del negated
    smallest = np.nextafter(np.zeros(1, scores.dtype), 1)  # positive scores only
    rows, columns = np.nonzero(scores >= np.maximum(kth, smallest)[:, None])
    values = scores[rows, columns]
    order = np.lexsort((columns, -values, rows))
    rows, columns, values = rows[order], columns[order], values[order]
    keep = rank_within_user(rows) <= k  # ties at the k-th value: the lowest columns
    return rows[keep], columns[keep], values[keep]


def binary_matrix(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]):
    return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, columns)), shape=shape)


def ids_by_row(rows: np.ndarray, ids: pa.ChunkedArray, n: int) -> pa.Array:
    """The id of each row number 0..n-1 (the input repeats them), as Arrow strings to take
    from: no Python string per output row."""
    first = np.full(n, -1, dtype=np.int64)  # -1: a row number with no input row (null)
    first[rows] = np.arange(len(rows))  # any occurrence would do: one id per row number
    return ids.combine_chunks().take(pa.array(first, mask=first < 0)).cast(pa.string())


def seen_policy_excludes(dbt) -> bool:
    rows = dbt.ref("int_seen_policy").project("exclude_seen").fetchall()  # one row
    return bool(rows and rows[0][0])


def model(dbt, session):
    dbt.config(materialized="table")
    regularisation = float(dbt.config.get("ease_lambda"))
    k = int(dbt.config.get("candidates_ease"))
    exclude_seen = seen_policy_excludes(dbt)
    inputs = dbt.ref("int_ease_inputs").order("snapshot, user_row, item_row").to_arrow_table()
    pieces = []
    for snapshot in inputs.column("snapshot").unique().to_pylist():
        part = inputs.filter(pc.equal(inputs.column("snapshot"), snapshot))
        user_rows = part.column("user_row").to_numpy()
        item_rows = part.column("item_row").to_numpy()
        n_users, n_items = int(user_rows.max()) + 1, int(item_rows.max()) + 1
        in_profile = part.column("in_profile").to_numpy(zero_copy_only=False)
        shape = (n_users, n_items)
        matrix = binary_matrix(user_rows[in_profile], item_rows[in_profile], shape)
        # every item the user had (older ones only come when they are left out)
        had = binary_matrix(user_rows, item_rows, shape) if exclude_seen else None
        weights = ease_weights(matrix, regularisation)
        item_ids = ids_by_row(item_rows, part.column("item_id"), n_items)
        user_ids = ids_by_row(user_rows, part.column("user_id"), n_users)
        ranked = np.zeros(n_users, dtype=bool)
        ranked[user_rows[part.column("is_ranked_user").to_numpy(zero_copy_only=False)]] = True
        targets = np.flatnonzero(ranked)
        for start in range(0, len(targets), USERS_PER_BATCH):
            batch = targets[start : start + USERS_PER_BATCH]
            scores = np.asarray(matrix[batch] @ weights)
            if had is not None:
                scores[had[batch].nonzero()] = -np.inf
            rows, columns, values = top_items(scores, k)
            ranks = rank_within_user(rows)
            pieces.append(
                pa.table(
                    {
                        "snapshot": pa.array([snapshot] * len(rows), pa.string()),
                        "user_id": user_ids.take(batch[rows]),
                        "item_id": item_ids.take(columns),
                        "generator": pa.array(["ease"] * len(rows), pa.string()),
                        # rounded like the SQL generators, so ties rank the same in every build
                        "score": pa.array(np.round(values.astype(np.float64), 9)),
                        "generator_rank": pa.array(ranks),
                    }
                )
            )
    if not pieces:
        return pa.table(
            {
                "snapshot": pa.array([], pa.string()),
                "user_id": pa.array([], pa.string()),
                "item_id": pa.array([], pa.string()),
                "generator": pa.array([], pa.string()),
                "score": pa.array([], pa.float64()),
                "generator_rank": pa.array([], pa.int64()),
            }
        )
    return pa.concat_tables(pieces)
