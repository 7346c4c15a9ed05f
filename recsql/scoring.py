"""Score the serve snapshot and replace the recommendations table in one transaction.

Readers see the old table or the new one, never half: ``outputs.replace_rows`` stages the new
rows in a temporary table, then the swap (replace the table, append to history) commits at
once. A failure anywhere before the commit leaves the previous recommendations as they were.
The output table is claimed (``outputs.claim``) and the model verified (``model_files``)
before any scoring work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsql import attribution, methods, model_files, outputs, progress, reasons, warehouse
from recsql.ranking_data import RankingData, load_split, rank_within_user

ROWS_PER_PART = 2_000_000  # serve rows scored at a time: ~0.5 GB of features, whole users


@dataclass(frozen=True)
class Caps:
    """At most this many items of one category / one brand in a user's list (None = no cap).

    Applied one after the other down each user's ranking (category first): an item over a cap
    gives its place to the next one. Items without a category or brand are never capped.
    """

    category: int | None = None
    brand: int | None = None

    def columns(self) -> dict[str, int]:
        return {
            name: cap for name, cap in (("category", self.category), ("brand", self.brand)) if cap
        }


class FeatureMismatch(Exception):
    """The serve rows do not carry exactly the features the model was trained on."""


@dataclass(frozen=True)
class SeenPolicy:
    exclude: bool
    why: str


@dataclass(frozen=True)
class ScoreRun:
    run_id: str
    model_version: str
    users: int
    rows: int
    table: str
    method: str = methods.RANKER
    seen: SeenPolicy = SeenPolicy(False, "")
    short_users: int = 0  # users left with fewer than top_k items


def check_features(
    model_features: list[str], serve_columns: set[str], current: list[str], version: str
) -> None:
    missing = [name for name in model_features if name not in serve_columns]
    extra = [name for name in current if name not in model_features]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from fct_candidates: {', '.join(missing)}")
        if extra:
            parts.append(f"not in the model: {', '.join(extra)}")
        raise FeatureMismatch(
            f"model {version} was trained on other features than the warehouse now has ({'; '.join(parts)}). "
            "Retrain with `recsql train`, or rebuild with the features the model knows."
        )


def before_swap() -> None:
    """Called between writing the staging table and the swap (tests inject failures here)."""


def score_serve_snapshot(
    db: Path,
    *,
    top_k: int = 20,
    model_version: str | None = None,
    table: str = "recommendations",
    method: str = methods.BEST,
    exclude_seen: bool | None = None,
    caps: Caps = Caps(),
) -> ScoreRun:
    """Rank the serve snapshot by ``method`` (``best``: what won on the test snapshot) and
    swap the top_k per user into ``table``. ``exclude_seen`` None = the warehouse's policy."""
    with warehouse.connect(db) as con:
        output = outputs.claim(con, table)
        warehouse.require_tables(con, db, "fct_candidates", "ranker_features")
        model = model_files.load_registered_model(con, model_version)
        version, booster, metadata = model.version, model.booster, model.metadata
        features = metadata["features"]
        columns = {row[0] for row in con.execute("describe fct_candidates").fetchall()}
        check_features(features, columns, warehouse.ranker_features(con), version)

        served = methods.resolve(con, method, metadata)
        exclude, why = methods.seen_policy(con, exclude_seen)
        run_id = uuid.uuid4().hex[:12]
        generated_at = datetime.now(UTC).replace(tzinfo=None)
        if served == methods.RANKER:
            top = _ranker_top(
                con, booster, features, top_k, exclude, metadata.get("categories"), caps
            )
        else:
            top = methods.baseline_top(con, served, top_k, exclude, caps.columns())
        rows = pa.table(
            {
                "user_id": top["user_id"],
                "rank": top["rank"],
                "item_id": top["item_id"],
                "score": top["score"],
                "model_version": pa.array([version] * len(top), pa.string()),
                "run_id": pa.array([run_id] * len(top), pa.string()),
                "generated_at": pa.array([generated_at] * len(top), pa.timestamp("us")),
                "reason": top["reason"],
                "method": pa.array([served] * len(top), pa.string()),
            }
        )
        outputs.replace_rows(con, output, rows, before_swap=lambda: before_swap())
    per_user = pc.value_counts(rows.column("user_id")).field("counts")
    return ScoreRun(
        run_id, version, len(per_user), len(rows), str(output), served,
        SeenPolicy(exclude, why), int(pc.sum(pc.less(per_user, top_k)).as_py() or 0),
    )  # fmt: skip


def _ranker_top(
    con: duckdb.DuckDBPyConnection,
    booster: lgb.Booster,
    features: list[str],
    top_k: int,
    exclude_seen: bool,
    categories: dict[str, list[str]] | None = None,
    caps: Caps = Caps(),
) -> pa.Table:
    """The model's top_k per serve user with reasons, scored in parts of whole users;
    categorical features coded as the model learnt them (``categories``)."""
    serve_rows = con.execute(
        "select count(*) from fct_candidates where split = 'serve'"
    ).fetchall()[0][0]
    parts = max(1, -(-serve_rows // ROWS_PER_PART))
    tables = attribution.leaf_tables(booster, attribution.best_iterations(booster))
    pieces = []
    for part in progress.bar(
        iterable=range(parts), desc="recsql score", unit="part", disable=parts < 2
    ):
        data = load_split(
            con, "serve", features, part=(part, parts), exclude_seen=exclude_seen,
            categories=categories,
        )  # fmt: skip
        groups = _cap_groups(con, caps, (part, parts), exclude_seen)
        pieces.append(_top_rows(con, booster, tables, features, data, top_k, groups))
    return pa.concat_tables(pieces)


def _top_rows(
    con: duckdb.DuckDBPyConnection,
    booster: lgb.Booster,
    tables: list[np.ndarray],
    features: list[str],
    data: RankingData,
    top_k: int,
    groups: list[tuple[np.ndarray, int]] = (),
) -> pa.Table:
    """Score one part of the serve rows; keep each user's top_k with a reason."""
    scores = booster.predict(data.features) if len(data.labels) else np.zeros(0)
    allowed = np.ones(len(scores), dtype=bool)
    for values, cap in groups:
        allowed &= within_cap(data.users, scores, values, cap, allowed)
    top = top_k_per_user(data.users[allowed], scores[allowed], top_k)
    top = np.flatnonzero(allowed)[top]
    contributions = attribution.contributions(booster, data.features[top], tables)
    details = reasons.row_details(con, data.users[top], data.items[top])
    return pa.table(
        {
            "user_id": pa.array(data.users[top].tolist(), pa.string()),
            "rank": pa.array(rank_within_user(data.users[top]), pa.int32()),
            "item_id": pa.array(data.items[top].tolist(), pa.string()),
            "score": pa.array(scores[top], pa.float64()),
            "reason": pa.array(reasons.explain(features, contributions, details), pa.string()),
        }
    )


def _cap_groups(
    con: duckdb.DuckDBPyConnection, caps: Caps, part: tuple[int, int], exclude_seen: bool
) -> list[tuple[np.ndarray, int]]:
    """Each capped column's values for the part's rows, in load_split's row order."""
    groups = []
    for column, cap in caps.columns().items():
        values = con.execute(
            f"select {column} from fct_candidates where split = 'serve' and hash(user_id) % ? = ?"
            + (" and not coalesce(is_seen, false)" if exclude_seen else "")
            + " order by snapshot, user_id, item_id",
            [part[1], part[0]],
        ).fetchnumpy()[column]
        groups.append((np.asarray(values, dtype=object), cap))
    return groups


def within_cap(
    users: np.ndarray, scores: np.ndarray, values: np.ndarray, cap: int, allowed: np.ndarray
) -> np.ndarray:
    """Rows that are among the ``cap`` best of their (user, value) among the allowed rows, by
    score; rows without a value always pass."""
    keep = np.ones(len(users), dtype=bool)
    rows = np.flatnonzero(allowed & np.not_equal(values, None))
    if not len(rows):
        return keep
    user_codes = np.unique(users[rows], return_inverse=True)[1]
    value_codes = np.unique(values[rows].astype(str), return_inverse=True)[1]
    order = np.lexsort((-scores[rows], value_codes, user_codes))
    pair = user_codes[order] * (value_codes.max() + 1) + value_codes[order]
    keep[rows[order]] = rank_within_user(pair) <= cap
    return keep


def top_k_per_user(users: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Row positions of each user's k best scores, grouped by user, best first."""
    if not len(users):
        return np.zeros(0, dtype=np.int64)
    codes = np.unique(users, return_inverse=True)[1]
    order = np.lexsort((-scores, codes))
    rank = rank_within_user(codes[order])
    return order[rank <= k]
