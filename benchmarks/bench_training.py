"""Train and score on a built warehouse (e.g. the 5M-interaction one bench_dbt.py makes):
wall time, peak memory, scoring throughput.

    python benchmarks/bench_training.py --warehouse benchmarks/results/work/large

Appends a record to benchmarks/results/training.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from results_file import append_record

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, default=RESULTS / "work" / "large")
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    os.environ["RECSQL_WAREHOUSE"] = str(args.warehouse)
    from recsql import paths, scoring, training

    db = paths.db_path()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = dict(
            con.execute("select split, count(*) from fct_candidates group by split").fetchall()
        )
    started = time.perf_counter()
    trained = training.train_ranker(db, rounds=args.rounds, show_progress=False)
    train_seconds = time.perf_counter() - started
    train_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    metrics = {(m, metric, k): v for _, _, m, metric, k, v in trained.metrics}
    record = {
        "benchmark": "train",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "warehouse": str(args.warehouse),
        "candidate_rows": rows,
        "train_rows_used": trained.train_rows,
        "best_iteration": trained.best_iteration,
        "train_seconds_incl_evaluation": round(train_seconds, 1),
        "train_peak_memory_mib": round(train_peak),
        "test_ndcg_at_10": {
            method: round(value, 4)
            for (method, metric, k), value in metrics.items()
            if metric == "ndcg" and k == 10
        },
    }
    append_record(
        "training", record
    )  # before scoring: a long scoring run must not lose the training figures
    started = time.perf_counter()
    run = scoring.score_serve_snapshot(db, top_k=20)
    score_seconds = time.perf_counter() - started
    append_record(
        "training",
        {
            "benchmark": "score",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "warehouse": str(args.warehouse),
            "serve_rows": rows.get("serve", 0),
            "score_seconds": round(score_seconds, 1),
            "serve_rows_scored_per_second": round(rows.get("serve", 0) / score_seconds),
            "recommendations": run.rows,
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        },
    )


if __name__ == "__main__":
    main()
