"""Time the whole loop (dbt build, train, score) at several log sizes and fit how it grows.

Run by hand (never collected by pytest; 2M and 5M take hours on 2 cores):

    python benchmarks/bench_scaling.py                           # 0.5M, 1M, 2M and 5M events
    python benchmarks/bench_scaling.py --events 500000 1000000   # just these sizes

Why this shape: issue 12 asks whether the loop's time grows linearly with the log, so every
size is built the same way in the same run and compared by the exponent of a log-log fit.

- Data: the demo generator (as bench_dbt.py's presets), with users and items scaled in the
  ``large`` preset's proportions (100k users, 50k items, 7.5 orders per user per 5M events):
  the 5M size is that preset's shop, seed for seed. Each size lives in
  benchmarks/results/work/scaling_<events>/ (git-ignored).
- Embedding cache warm, as in bench_dbt.py's 4GB row: one cache shared by all sizes
  (work/scaling_cache) is filled by an untimed ``dbt run --select +int_item_neighbours``
  (which also builds the hnswlib index), then the DuckDB file is deleted and the full
  ``dbt build`` is timed. The record says how many vectors the cache held before and after
  the timed build (equal: nothing was encoded).
- DuckDB ``memory_limit`` 4GB (``RECSQL_MEMORY_LIMIT``, as the profile defaults and the large
  benchmark used).
- Every step runs in a fresh child process; its peak RSS is the kernel's ``ru_maxrss`` for
  that child and its descendants (``os.wait4``), and the largest sum of RSS over the process
  tree, polled from /proc every 0.2 s, is kept beside it (``*_tree_peak_mib``).
- ``predict_rows_per_second`` is plain ``Booster.predict`` (all threads, batches of up to
  ``PREDICT_PART_ROWS`` rows) on the serve rows ``recsql score`` ranks, in the same run,
  timing only the predict calls: the ceiling scoring is compared against.

Writes benchmarks/results/scaling.json after each size: one object per size of this run and a
last object with the fitted exponents (the file holds the latest run only, so a fit never mixes
code versions). ``--add-to-latest`` measures more sizes for the file's run: its other sizes stay
when no product file (outside benchmarks/, tests/, README.md, docs/) changed since their commit, else
it stops before measuring:

    python benchmarks/bench_scaling.py --events 5000000 --add-to-latest
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from results_file import RESULTS

REPO = Path(__file__).resolve().parents[1]
OUT = RESULTS / "scaling.json"
CACHE = RESULTS / "work" / "scaling_cache"
DEFAULT_EVENTS = [500_000, 1_000_000, 2_000_000, 5_000_000]
# bench_dbt.py's large preset, the shop of issue 12: its proportions scale every size
LARGE = {"users": 100_000, "items": 50_000, "days": 365, "orders_per_user": 7.5}
LARGE_EVENTS = 5_000_000
MEMORY_LIMIT = "4GB"
POLL_SECONDS = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
STEPS = ("build", "train", "score")
PREDICT_PART_ROWS = 8_000_000  # plain predict holds a part's features whole (8M: as before)
# a change to these keeps records comparable (--add-to-latest): they are not the product
NOT_MEASURED = ("benchmarks", "tests", "README.md", "docs")
TRAIN_FIELDS = (
    "model_version",
    "best_iteration",
    "rounds_capped",
    "train_rows_used",
    "train_users",
    "train_positives",
    "learning_rows",
    "query_share",
)  # the loop whose total time is fitted


def shop_size(events: int) -> dict[str, Any]:
    """Generator arguments for a log of about ``events`` rows, in the large preset's shape."""
    scale = events / LARGE_EVENTS
    return {
        **LARGE,
        "users": max(1, round(LARGE["users"] * scale)),
        "items": max(10, round(LARGE["items"] * scale)),
    }


# --- running a step in a child and reading its peak memory --------------------------------


def _children_by_parent() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants now (0 once it is gone)."""
    tree, total, todo = _children_by_parent(), 0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):  # it ended while we looked
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        todo.extend(tree.get(pid, []))
    return total


def run_step(name: str, command: list[str], env: dict[str, str], logs: Path) -> dict[str, Any]:
    """Run one step as a child process; its wall time, peak RSS and the stdout it printed.

    ``os.wait4`` gives this child's own ``ru_maxrss`` (which includes its waited-for
    descendants), not the running maximum over every child this script ever had, which is
    what ``RUSAGE_CHILDREN`` would give for the second and later steps.
    """
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{name}.out", logs / f"{name}.err"
    peak = {"tree": 0}
    timeline: list[tuple[float, int]] = []  # (unix time, tree RSS bytes) at every poll
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                rss = _tree_rss_bytes(child.pid)
                timeline.append((time.time(), rss))
                peak["tree"] = max(peak["tree"], rss)
                done.wait(POLL_SECONDS)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        poller.join()
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        tail = out_path.read_text()[-4000:] + err_path.read_text()[-3000:]
        sys.exit(f"{name} failed (exit {child.returncode}); logs in {logs}:\n{tail}")
    return {
        "seconds": seconds,
        "peak_mib": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "tree_peak_mib": peak["tree"] / 2**20,
        "timeline": timeline,
        "stdout": out_path.read_text(),
    }


def _last_json(stdout: str) -> dict[str, Any]:
    """The JSON line a ``--step`` child printed last (libraries may print before it)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"no JSON result in the step's output:\n{stdout[-2000:]}")


# --- the steps a child runs (--step): timed inside, printed as one JSON line ---------------


def step_train(db: Path, rounds: int) -> dict[str, Any]:
    """``recsql train`` as the library runs it; seconds exclude interpreter start and imports."""
    from recsql import training

    started = time.perf_counter()
    trained = training.train_ranker(db, rounds=rounds, show_progress=False)
    return {
        "seconds": time.perf_counter() - started,
        "model_version": trained.model_version,
        "best_iteration": trained.best_iteration,
        "rounds_capped": trained.rounds_capped,
        "train_rows_used": trained.train_rows,
        "train_users": trained.train_users,
        "train_positives": trained.positives,
        "learning_rows": trained.learning_rows,
        "query_share": round(trained.query_share, 4),
    }


def step_score(db: Path, top_k: int) -> dict[str, Any]:
    """``recsql score`` with the ranker forced (``best`` could serve a baseline, which would
    not measure the ranker's scoring path)."""
    from recsql import methods, scoring

    started = time.perf_counter()
    run = scoring.score_serve_snapshot(db, top_k=top_k, method=methods.RANKER)
    return {
        "seconds": time.perf_counter() - started,
        "method": run.method,
        "recommendations": run.rows,
        "users": run.users,
        "exclude_seen": run.seen.exclude,
    }


def step_predict(db: Path) -> dict[str, Any]:
    """Plain ``Booster.predict`` on the rows scoring ranks: same model, same feature matrix
    (same loader, seen policy and category codes), all threads, in parts of whole users of at
    most ``PREDICT_PART_ROWS`` rows: each part's features are held whole (65 float32 features
    of 22.8M serve rows at 5M would take 5.9 GB), where scoring holds only ids and scores.
    Only the predict calls are timed; loading the parts is reported apart."""
    from recsql import methods, model_files, warehouse
    from recsql.ranking_data import load_split

    threads = os.cpu_count() or 1
    load_seconds = predict_seconds = 0.0
    rows = 0
    with warehouse.connect(db, read_only=True) as con:
        model = model_files.load_registered_model(con)
        exclude, _ = methods.seen_policy(con, None)
        serve_rows = con.execute(
            "select count(*) from fct_candidates where split = 'serve'"
        ).fetchall()[0][0]
        parts = max(1, -(-serve_rows // PREDICT_PART_ROWS))
        for part in range(parts):
            started = time.perf_counter()
            data = load_split(
                con, "serve", model.metadata["features"], part=(part, parts),
                exclude_seen=exclude, categories=model.metadata.get("categories"),
            )  # fmt: skip
            load_seconds += time.perf_counter() - started
            started = time.perf_counter()
            if len(data.labels):
                model.booster.predict(data.features, num_threads=threads)
            predict_seconds += time.perf_counter() - started
            rows += len(data.labels)
    return {
        "seconds": predict_seconds,
        "load_seconds": load_seconds,
        "rows": rows,
        "parts": parts,
        "threads": threads,
        "exclude_seen": exclude,
        "model_version": model.version,
    }


# --- one size ------------------------------------------------------------------------------


def _cache_vectors() -> int:
    """Vectors held in the shared embedding cache (shard files of every model id)."""
    import numpy as np

    total = 0
    for shard in CACHE.glob("*/shard-*.npz"):
        with np.load(shard, allow_pickle=False) as data:
            total += len(data["keys"])
    return total


def _drop_db(warehouse: Path) -> None:
    for name in ("recsql.duckdb", "recsql.duckdb.wal"):
        (warehouse / name).unlink(missing_ok=True)
    shutil.rmtree(warehouse / "models", ignore_errors=True)


def _slowest_models(target: Path, top: int = 10) -> list[dict[str, Any]]:
    """dbt's own per-node timings for models (tests left out): the hottest first."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = [r for r in results if r["unique_id"].startswith("model.")]
    models.sort(key=lambda r: -r["execution_time"])
    return [
        {"model": r["unique_id"].split(".")[-1], "seconds": round(r["execution_time"], 1)}
        for r in models[:top]
    ]


def _peak_by_model(target: Path, timeline: list[tuple[float, int]], top: int = 8) -> list:
    """The largest process-tree RSS seen while each model ran (dbt's own start and end times;
    models running side by side share their peaks): the models that set the build's peak."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    peaks = []
    for result in results:
        if not result["unique_id"].startswith("model.") or not result.get("timing"):
            continue
        start = min(datetime.fromisoformat(t["started_at"]) for t in result["timing"])
        end = max(datetime.fromisoformat(t["completed_at"]) for t in result["timing"])
        start_s, end_s = start.replace(tzinfo=UTC).timestamp(), end.replace(tzinfo=UTC).timestamp()
        seen = [rss for when, rss in timeline if start_s <= when <= end_s]
        if seen:
            peaks.append((max(seen), result["unique_id"].split(".")[-1]))
    peaks.sort(reverse=True)
    return [{"model": name, "peak_mib": round(rss / 2**20)} for rss, name in peaks[:top]]


def _test_seconds(target: Path) -> float:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return round(sum(r["execution_time"] for r in results if r["unique_id"].startswith("test.")), 1)


def _warehouse_counts(db: Path) -> dict[str, Any]:
    with duckdb.connect(str(db), read_only=True) as con:
        raw = con.execute("select count(*) from stg_interactions").fetchall()[0][0]
        clean = con.execute("select count(*) from int_interactions_clean").fetchall()[0][0]
        splits = dict(
            con.execute("select split, count(*) from fct_candidates group by split").fetchall()
        )
    return {"raw_events": raw, "clean_events": clean, "candidate_rows": splits}


def _quality(db: Path, version: str) -> dict[str, Any]:
    """Test NDCG@10 of the ranker (with its 95 % interval) and of the best baseline."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select method, value, ci95_low, ci95_high from model_metrics"
            " where model_version = ? and metric = 'ndcg' and k = 10 and snapshot = 'test'"
            " order by value desc",
            [version],
        ).fetchall()
    ranker = next((row for row in rows if row[0] == "ranker"), ("ranker", None, None, None))
    best = next((row for row in rows if row[0] != "ranker"), (None, None, None, None))
    return {
        "test_ndcg_at_10": _round(ranker[1], 4),
        "test_ndcg_at_10_ci95": [_round(ranker[2], 4), _round(ranker[3], 4)],
        "best_baseline": best[0],
        "best_baseline_test_ndcg_at_10": _round(best[1], 4),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def measure_size(events: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, warm the cache, then build, train, score and predict one size."""
    from recsql.demo_data import generate_demo_data

    size = shop_size(events)
    warehouse = RESULTS / "work" / f"scaling_{events}"
    raw, logs, target = warehouse / "raw", warehouse / "bench-logs", warehouse / "target"
    print(f"[{events:,}] {size}", flush=True)
    started = time.perf_counter()
    if not (args.reuse_data and (raw / "interactions.parquet").exists()):
        generate_demo_data(raw, seed=args.seed, **size)
    generate_seconds = time.perf_counter() - started

    env = dict(
        os.environ, RECSQL_WAREHOUSE=str(warehouse), RECSQL_CACHE=str(CACHE),
        RECSQL_MEMORY_LIMIT=args.memory_limit, HF_HUB_OFFLINE="1",
    )  # fmt: skip
    for name in ("RECSQL_DB", "DBT_TARGET", "DBT_PROFILES_DIR"):
        env.pop(name, None)

    def dbt(verb: str, *more: str) -> list[str]:
        return [
            str(Path(sys.executable).parent / "dbt"), verb, "--project-dir", "dbt_project",
            "--profiles-dir", ".", "--target-path", str(target),
            "--log-path", str(warehouse / "logs"), *more,
        ]  # fmt: skip

    # untimed: fill the shared embedding cache and this warehouse's hnswlib index
    _drop_db(warehouse)
    warmup = run_step("warmup", dbt("run", "--select", "+int_item_neighbours"), env, logs)
    _drop_db(warehouse)
    vectors_before = _cache_vectors()
    print(f"[{events:,}] cache warm ({vectors_before:,} vectors); building", flush=True)

    build = run_step("build", dbt("build"), env, logs)
    vectors_after = _cache_vectors()
    db = warehouse / "recsql.duckdb"
    counts = _warehouse_counts(db)
    print(f"[{events:,}] built in {build['seconds']:.0f} s; training", flush=True)

    me = [sys.executable, str(Path(__file__).resolve()), "--db", str(db)]
    train = run_step("train", [*me, "--step", "train", "--rounds", str(args.rounds)], env, logs)
    trained = _last_json(train["stdout"])
    print(f"[{events:,}] trained in {trained['seconds']:.0f} s; scoring", flush=True)
    score = run_step("score", [*me, "--step", "score", "--top-k", str(args.top_k)], env, logs)
    scored = _last_json(score["stdout"])
    predict = run_step("predict", [*me, "--step", "predict"], env, logs)
    predicted = _last_json(predict["stdout"])

    serve_rows = counts["candidate_rows"].get("serve", 0)
    score_rows_per_second = serve_rows / scored["seconds"]
    # the rows scoring actually ranks (after its seen policy), at its own speed and predict's
    ranked_per_second = predicted["rows"] / scored["seconds"]
    predict_rows_per_second = (
        predicted["rows"] / predicted["seconds"] if predicted["seconds"] else None
    )
    return {
        "events": events,
        **counts,
        "shop": size,
        "seed": args.seed,
        "generate_seconds": round(generate_seconds, 1),
        "cache": {
            "state": "warm: untimed `dbt run --select +int_item_neighbours` first, then a fresh DuckDB file",
            "warmup_seconds": round(warmup["seconds"], 1),
            "vectors_before_build": vectors_before,
            "vectors_after_build": vectors_after,
        },
        "memory_limit": args.memory_limit,
        "build_seconds": round(build["seconds"], 1),
        "build_peak_mib": round(build["peak_mib"]),
        "build_tree_peak_mib": round(build["tree_peak_mib"]),
        "build_test_seconds": _test_seconds(target),
        "build_slowest_models": _slowest_models(target),
        "build_peak_by_model": _peak_by_model(target, build["timeline"]),
        "train_seconds": round(trained["seconds"], 1),
        "train_process_seconds": round(train["seconds"], 1),
        "train_peak_mib": round(train["peak_mib"]),
        "train_tree_peak_mib": round(train["tree_peak_mib"]),
        **{key: trained[key] for key in TRAIN_FIELDS},
        **_quality(db, trained["model_version"]),
        "score_seconds": round(scored["seconds"], 1),
        "score_process_seconds": round(score["seconds"], 1),
        "score_peak_mib": round(score["peak_mib"]),
        "score_tree_peak_mib": round(score["tree_peak_mib"]),
        "score_method": scored["method"],
        "recommendations": scored["recommendations"],
        "top_k": args.top_k,
        "serve_rows": serve_rows,
        "score_rows_per_second": round(score_rows_per_second),
        "ranked_rows": predicted["rows"],
        "ranked_rows_per_second": round(ranked_per_second),
        "predict_seconds": round(predicted["seconds"], 1),
        "predict_load_seconds": round(predicted["load_seconds"], 1),
        "predict_threads": predicted["threads"],
        "predict_peak_mib": round(predict["peak_mib"]),
        "predict_rows_per_second": _round(predict_rows_per_second, 0),
        "score_share_of_predict": _round(ranked_per_second / predict_rows_per_second, 3)
        if predict_rows_per_second
        else None,
        "loop_seconds": round(build["seconds"] + trained["seconds"] + scored["seconds"], 1),
    }


# --- the fit -------------------------------------------------------------------------------


def loglog_slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x): time ~ rows^slope. None below two sizes, or
    when a step took no measurable time (rounded to 0 s on a tiny log)."""
    if len(xs) < 2 or min(ys) <= 0:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    spread = sum((x - mx) ** 2 for x in lx)
    if not spread:
        return None
    return round(sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / spread, 3)


def fit(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The exponents of loop and step time against raw events, over the sizes measured."""
    xs = [record["raw_events"] for record in records]
    columns = {
        "build": "build_seconds", "train": "train_seconds", "score": "score_seconds",
        "predict": "predict_seconds",
    }  # fmt: skip
    return {
        "fit": "least squares of log(seconds) on log(raw_events)",
        "sizes": [record["events"] for record in records],
        "raw_events": xs,
        "exponent": loglog_slope(xs, [record["loop_seconds"] for record in records]),
        "step_exponents": {
            step: loglog_slope(xs, [record[column] for record in records])
            for step, column in columns.items()
        },
        "peak_mib_exponents": {
            step: loglog_slope(xs, [record[f"{step}_peak_mib"] for record in records])
            for step in STEPS
        },
    }


def _git_state() -> dict[str, Any]:
    """The commit measured and the files that differed from it (others edit the tree too)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "modified": git("status", "--porcelain").splitlines(),
    }


def _code_changes(commit: str) -> list[str]:
    """Files of the product (not ``NOT_MEASURED``) that differ between ``commit`` and the tree
    now: the code a record measured is the code measured now when there are none."""
    changed = subprocess.run(
        ["git", "diff", "--name-only", commit, "--", ".",
         *(f":(exclude){path}" for path in NOT_MEASURED)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if changed.returncode:
        return [f"commit {commit} not found: {changed.stderr.strip()}"]
    return changed.stdout.split()


def latest_records(sizes: list[int]) -> list[dict[str, Any]]:
    """``--add-to-latest``: the latest run's records of the sizes not measured now, kept only
    if they measured the same code (no product file changed since their commit, none edited
    then), so one fit never mixes code versions."""
    if not OUT.exists():
        return []
    kept = []
    for record in json.loads(OUT.read_text()):
        if record.get("events") is None or record["events"] in sizes:
            continue  # the fit, or a size measured again now
        git = record["run"]["git"]
        edited = [line for line in git["modified"] if not line[3:].startswith(NOT_MEASURED)]
        if changes := edited + _code_changes(git["commit"]):
            sys.exit(
                f"--add-to-latest: the {record['events']:,}-event record in {OUT} measured other"
                f" code ({', '.join(changes[:5])}); run every size again instead"
            )
        kept.append(record)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--memory-limit", default=MEMORY_LIMIT, help="RECSQL_MEMORY_LIMIT")
    parser.add_argument("--reuse-data", action="store_true", help="keep raw files from a prior run")
    parser.add_argument(
        "--add-to-latest", action="store_true",
        help="keep the other sizes of scaling.json's run (same code only) and fit over all",
    )  # fmt: skip
    parser.add_argument("--step", choices=["train", "score", "predict"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:  # a child of the run below
        result = {
            "train": lambda: step_train(args.db, args.rounds),
            "score": lambda: step_score(args.db, args.top_k),
            "predict": lambda: step_predict(args.db),
        }[args.step]()
        print(json.dumps(result), flush=True)
        return

    run = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "git": _git_state(),
    }
    records = latest_records(args.events) if args.add_to_latest else []
    for events in sorted(args.events):
        measured = {**measure_size(events, args), "run": run}
        records = sorted([*records, measured], key=lambda record: record["events"])
        RESULTS.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps([*records, fit(records)], indent=2) + "\n")
        print(json.dumps(measured, indent=2), flush=True)
    print(json.dumps(fit(records), indent=2))


if __name__ == "__main__":
    main()
