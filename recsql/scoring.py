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
from recsql.ranking_data import (
    BATCH_ROWS,
    PREDICT_ROWS,
    batches_of_at_least,
    feature_columns,
    feature_matrix,
    split_filter,
)

# serve rows whose ids and scores are held at a time (whole users). Each part scans the serve
# split twice (its rows, then its top rows' reasons): at 5M events (22.8M serve rows) one part
# scored in 165 s, peak 3,395 MiB, three parts of 8M in 217 s, peak 2,244 MiB; the same rows
ROWS_PER_PART = 25_000_000
# DuckDB's bound while the top rows' features are read back: their hash table and sort (~150MB
# for 400k top rows of 61 features), not the serve blocks streaming past
READ_BACK_MEMORY = "1GB"


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
    """The model's top_k per serve user with reasons; categorical features coded as the model
    learnt them (``categories``).

    Serve rows stream from DuckDB in batches and are predicted as they come: only ids and
    scores are kept, never the whole feature matrix. Reasons are worked out for the rows that
    reach the top_k alone. Parts of whole users bound the memory the ids and scores take.
    """
    serve_rows = con.execute(
        "select count(*) from fct_candidates where split = 'serve'"
    ).fetchall()[0][0]
    parts = max(1, -(-serve_rows // ROWS_PER_PART))
    tables = attribution.leaf_tables(booster, attribution.best_iterations(booster))
    pieces = []
    for part in progress.bar(
        iterable=range(parts), desc="recsql score", unit="part", disable=parts < 2
    ):
        scored = _predict_part(
            con, booster, features, categories, (part, parts), exclude_seen, caps
        )
        top = _top(con, scored, top_k, caps)
        pieces.append(_with_reasons(con, booster, tables, features, categories, top))
    return pa.concat_tables(pieces).sort_by([("user_id", "ascending"), ("rank", "ascending")])


def _predict_part(
    con: duckdb.DuckDBPyConnection,
    booster: lgb.Booster,
    features: list[str],
    categories: dict[str, list[str]] | None,
    part: tuple[int, int],
    exclude_seen: bool,
    caps: Caps,
) -> pa.Table:
    """The part's serve rows as read (no order): ids, capped columns and the model's score."""
    capped = list(caps.columns())
    columns: dict[str, list[pa.Array]] = {name: [] for name in ("user_id", "item_id", *capped)}
    scores = []
    with warehouse.streaming_scan(con) as scan:  # the serve blocks read: only their scores matter
        reader = scan.sql(
            "select user_id, item_id, "
            + "".join(f"{column}::varchar as {column}, " for column in capped)
            + f"{feature_columns(features, categories)} from fct_candidates"
            f" where {split_filter(exclude_seen)}",
            params=["serve", part[1], part[0]],
        ).to_arrow_reader(BATCH_ROWS)
        for batch in batches_of_at_least(reader, PREDICT_ROWS):
            for name, chunks in columns.items():
                chunks.append(batch.column(name).combine_chunks())
            scores.append(booster.predict(feature_matrix(batch, features, categories)))
    return pa.table(
        {
            **{
                name: pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
                for name, chunks in columns.items()
            },
            "score": np.concatenate(scores) if scores else np.zeros(0),
        }
    )


def _top(con: duckdb.DuckDBPyConnection, scored: pa.Table, top_k: int, caps: Caps) -> pa.Table:
    """Each user's top_k rows by score within the caps, with their rank; equal scores in item
    id order, so the lists never depend on the order rows came in."""
    ranked = methods.top_per_user(
        "select * from scored_rows", "score desc, item_id", top_k, caps.columns(),
        "user_id, item_id, score",
    )  # fmt: skip
    con.register("scored_rows", scored)
    try:
        return con.sql(
            "select user_id, item_id, score, rank::integer as rank"
            f" from ({ranked}) order by user_id, rank"
        ).to_arrow_table()
    finally:
        con.unregister("scored_rows")


def _with_reasons(
    con: duckdb.DuckDBPyConnection,
    booster: lgb.Booster,
    tables: list[np.ndarray],
    features: list[str],
    categories: dict[str, list[str]] | None,
    top: pa.Table,
) -> pa.Table:
    """The top rows with rank, score and a reason: their features and the values reasons
    quote are read back from fct_candidates for these rows only."""
    users, items = top.column("user_id"), top.column("item_id")
    # the serve rows stream past a hash table of the top rows: nothing worth caching
    with warehouse.streaming_scan(con, READ_BACK_MEMORY) as scan:
        scan.register(
            "top_rows", pa.table({"position": np.arange(len(top)), "u": users, "i": items})
        )
        rows = scan.sql(
            f"select {feature_columns(features, categories)}, "
            + ", ".join(f"candidates.{name} as detail_{name}" for name in reasons.DETAIL_COLUMNS)
            + " from top_rows inner join fct_candidates as candidates"
            " on candidates.split = 'serve' and candidates.user_id = top_rows.u"
            " and candidates.item_id = top_rows.i order by top_rows.position"
        ).to_arrow_table()
    quoted = reasons.quotable(features)
    contributions = attribution.contributions(
        booster, feature_matrix(rows, features, categories), tables, quoted
    )
    details = {
        name: rows.column(f"detail_{name}").combine_chunks() for name in reasons.DETAIL_COLUMNS
    }
    return pa.table(
        {
            "user_id": users.cast(pa.string()),
            "rank": top.column("rank"),
            "item_id": items.cast(pa.string()),
            "score": top.column("score"),
            "reason": reasons.explain(
                [features[position] for position in quoted], contributions, details
            ),
        }
    )
