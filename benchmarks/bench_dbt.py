"""Time `dbt build` on generated shops: wall time, rows/s, peak memory, where the time goes.

Run by hand (never collected by pytest):

    python benchmarks/bench_dbt.py --preset demo
    python benchmarks/bench_dbt.py --preset large --layer foundation
    python benchmarks/bench_dbt.py --preset large --layer all

Each run generates the shop into its own warehouse under benchmarks/results/work/, builds it
with the dbt CLI in a child process (as a user would) and appends a record to
benchmarks/results/dbt_build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from results_file import RESULTS, append_record

REPO = Path(__file__).resolve().parents[1]
PRESETS = {
    "demo": {"users": 10_000, "items": 4_000, "days": 365},
    "large": {"users": 100_000, "items": 50_000, "days": 365, "orders_per_user": 7.5},
}
# issue-2 layer: cleaning, snapshots, labels, point-in-time features
FOUNDATION = (
    "+int_interactions_rejected +int_items_rejected +int_labels +int_snapshot_users"
    " +int_item_popularity +int_user_aggregates +int_user_brand_affinity"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--layer", choices=["foundation", "all"], default="all")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse-data", action="store_true", help="keep raw files from a prior run")
    args = parser.parse_args()

    from recsql.demo_data import generate_demo_data

    size = PRESETS[args.preset]
    warehouse = RESULTS / "work" / args.preset
    raw = warehouse / "raw"
    started = time.perf_counter()
    if not (args.reuse_data and (raw / "interactions.parquet").exists()):
        generate_demo_data(raw, seed=args.seed, **size)
    generate_seconds = time.perf_counter() - started

    env = dict(os.environ, RECSQL_WAREHOUSE=str(warehouse), HF_HUB_OFFLINE="1")
    env.pop("RECSQL_DB", None)
    (warehouse / "recsql.duckdb").unlink(missing_ok=True)
    command = [
        str(Path(sys.executable).parent / "dbt"), "build",
        "--project-dir", "dbt_project", "--profiles-dir", ".",
        "--target-path", str(warehouse / "target"), "--log-path", str(warehouse / "logs"),
    ]  # fmt: skip
    if args.layer == "foundation":
        # cautious: relationship tests of models outside the layer stay out of it
        command += ["--select", FOUNDATION, "--indirect-selection", "cautious"]
    started = time.perf_counter()
    built = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if built.returncode:
        sys.exit(f"dbt build failed:\n{built.stdout[-4000:]}{built.stderr[-2000:]}")
    build_seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    with duckdb.connect(str(warehouse / "recsql.duckdb"), read_only=True) as con:
        raw_rows = con.execute("select count(*) from stg_interactions").fetchall()[0][0]
        tables = {
            name: con.execute(f'select count(*) from "{name}"').fetchall()[0][0]
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_type = 'BASE TABLE'"
            ).fetchall()
        }
    timings = json.loads((warehouse / "target" / "run_results.json").read_text())["results"]
    slowest = sorted(
        ((r["unique_id"].split(".")[-1], round(r["execution_time"], 2)) for r in timings),
        key=lambda pair: -pair[1],
    )[:10]
    record = {
        "benchmark": "dbt_build",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "preset": args.preset,
        "layer": args.layer,
        "size": size,
        "raw_interactions": raw_rows,
        "generate_seconds": round(generate_seconds, 2),
        "build_seconds": round(build_seconds, 2),
        "raw_rows_per_second": round(raw_rows / build_seconds),
        "peak_memory_mib": round(peak_mib),
        "table_rows": tables,
        "slowest_nodes_seconds": slowest,
    }
    append_record("dbt_build", record)


if __name__ == "__main__":
    main()
