"""Train and score on a built warehouse (e.g. the 5M-interaction one bench_dbt.py makes):
wall time, peak memory, scoring throughput.

    python benchmarks/bench_training.py --warehouse benchmarks/results/work/large

Training and scoring each run in a fresh process, so each peak memory is its own.
Appends one record per step to benchmarks/results/training.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from results_file import RESULTS, append_record


def _peak_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _header(step: str, warehouse: Path) -> dict:
    return {
        "benchmark": step,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "warehouse": str(warehouse),
    }


def _rows_by_split(db: Path) -> dict[str, int]:
    if not db.exists():
        raise SystemExit(f"{db} does not exist: build it first (bench_dbt.py --preset large)")
    with duckdb.connect(str(db), read_only=True) as con:
        if not con.execute(
            "select count(*) from information_schema.tables where table_name = 'fct_candidates'"
        ).fetchone()[0]:
            raise SystemExit(
                f"{db} has no fct_candidates: build every layer (bench_dbt.py without --layer)"
            )
        return dict(
            con.execute("select split, count(*) from fct_candidates group by split").fetchall()
        )


def bench_train(db: Path, warehouse: Path, rounds: int) -> None:
    from recsql import training

    rows = _rows_by_split(db)
    started = time.perf_counter()
    trained = training.train_ranker(db, rounds=rounds, show_progress=False)
    seconds = time.perf_counter() - started
    metrics = {(m, metric, k): v for _, _, m, metric, k, v in trained.metrics}
    append_record(
        "training",
        {
            **_header("train", warehouse),
            "candidate_rows": rows,
            "train_rows_used": trained.train_rows,
            "train_users": trained.train_users,
            "train_positives": trained.positives,
            "model_version": trained.model_version,
            "best_iteration": trained.best_iteration,
            "train_seconds_incl_evaluation": round(seconds, 1),
            "peak_memory_mib": _peak_mib(),
            **{
                f"test_{name}_at_10": {
                    method: round(value, 4)
                    for (method, metric, k), value in metrics.items()
                    if metric == name and k == 10
                }
                for name in ("ndcg", "recall")
            },
        },
    )


def bench_score(db: Path, warehouse: Path, top_k: int) -> None:
    from recsql import scoring

    serve_rows = _rows_by_split(db).get("serve", 0)
    started = time.perf_counter()
    run = scoring.score_serve_snapshot(db, top_k=top_k)
    seconds = time.perf_counter() - started
    append_record(
        "training",
        {
            **_header("score", warehouse),
            "serve_rows": serve_rows,
            "top_k": top_k,
            "score_seconds": round(seconds, 1),
            "serve_rows_scored_per_second": round(serve_rows / seconds),
            "recommendations": run.rows,
            "peak_memory_mib": _peak_mib(),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, default=RESULTS / "work" / "large")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--step", choices=["all", "train", "score"], default="all")
    args = parser.parse_args()
    if args.step == "all":
        # each step in its own process: its peak memory is then its own, not the other's
        for step in ("train", "score"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--step", step], check=True)
        return
    os.environ["RECSQL_WAREHOUSE"] = str(args.warehouse)
    from recsql import paths

    db = paths.db_path()
    if args.step == "train":
        bench_train(db, args.warehouse, args.rounds)
    else:
        bench_score(db, args.warehouse, args.top_k)


if __name__ == "__main__":
    main()
