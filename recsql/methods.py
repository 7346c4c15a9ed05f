"""What `recsql score` serves: the ranker, or a baseline that beat it, and whether items the
user already had may be shown.

A baseline is served exactly as ``evaluation`` measured it: the generator's own candidates by
its score, then the user's other candidates by recent popularity. ``best`` reads the verdict
``recsql train`` stored with the model, so a ranker that lost on the test snapshot is never
shipped by default.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from recsql import evaluation, warehouse

BEST = "best"
RANKER = evaluation.RANKER
# baselines that are not generator names map onto the generator that ranks the same way
ALIASES = {"popularity_recent": "gen_popular_recent"}
BASELINE_REASONS = {
    "repurchase": "bought before",
    "popular_recent": "popular now",
    "popular_alltime": "a best seller",
    "popular_category": "a best seller in a category you like",
    "covisit": "often bought with your recent items",
    "content": "similar to what you had",
    "item_knn": "people with your items also had it",
    "ease": "people with your items also had it",
}


class UnknownMethod(ValueError):
    """A --method that is neither best, ranker nor a baseline of this warehouse."""


def choices(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [BEST, RANKER, *(f"gen_{name}" for name in evaluation.generator_names(con))]


def resolve(con: duckdb.DuckDBPyConnection, requested: str, metadata: dict) -> str:
    """``best`` becomes the model's recorded serve_method (the ranker for older models)."""
    method = (metadata.get("serve_method") or RANKER) if requested == BEST else requested
    method = ALIASES.get(method, method)
    allowed = choices(con)
    if method not in allowed[1:]:
        raise UnknownMethod(f"--method {requested!r} is not one of: {', '.join(allowed)}")
    return method


def seen_policy(con: duckdb.DuckDBPyConnection, override: bool | None) -> tuple[bool, str]:
    """(exclude seen items?, why) from --exclude-seen/--keep-seen, else int_seen_policy."""
    if override is not None:
        return override, "--exclude-seen given" if override else "--keep-seen given"
    policy = warehouse.seen_policy(con)
    if policy is None:
        return False, "no int_seen_policy table (an older build)"
    share = "unknown" if policy.rebuy_share is None else f"{policy.rebuy_share:.0%}"
    return policy.exclude, f"{policy.decided_by}: re-buys are {share} of the train labels"


def baseline_top(
    con: duckdb.DuckDBPyConnection,
    method: str,
    top_k: int,
    exclude_seen: bool,
    caps: dict[str, int] | None = None,
) -> pa.Table:
    """Each serve user's top_k by a generator's own order, with that generator's reason;
    ``caps`` keeps at most n items per value of a column (category, brand), in order."""
    name = method.removeprefix("gen_")
    reason = BASELINE_REASONS.get(name, f"proposed by {name}")
    score = warehouse.quote(f"gen_{name}_score")
    order = evaluation.generator_order(name)
    rows = (
        "select * from fct_candidates"
        f" where split = 'serve' {'and not coalesce(is_seen, false)' if exclude_seen else ''}"
    )
    ranked = top_per_user(rows, order, top_k, caps or {}, f"user_id, item_id, {score}")
    return con.sql(
        f"""
        select user_id, cast(rank as integer) as rank, item_id,
            cast(coalesce({score}, 0) as double) as score,
            case when {score} is null then ? else ? end as reason
        from ({ranked}) as ranked
        order by user_id, rank
        """,
        params=[BASELINE_REASONS["popular_recent"], reason],
    ).to_arrow_table()


def top_per_user(rows: str, order: str, top_k: int, caps: dict[str, int], columns: str) -> str:
    """SQL: ``columns`` and ``rank`` of each user's first top_k rows of the query ``rows`` by
    ``order``, within ``caps`` (at most n per value of a column, applied one after the other:
    a row over a cap gives its place to the next; rows without a value always pass). The
    ranker and the baselines share it, so a cap means the same on both."""
    for column, cap in caps.items():
        rows = (
            f"select * from ({rows}) qualify {column} is null"
            f" or row_number() over (partition by user_id, {column} order by {order}) <= {int(cap)}"
        )
    return (
        f"select {columns}, row_number() over (partition by user_id order by {order}) as rank"
        f" from ({rows}) qualify rank <= {int(top_k)}"
    )
