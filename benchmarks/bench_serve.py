"""Drive `recsql serve` on loopback for a bounded time: throughput and latency per route.

    RECSQL_WAREHOUSE=/tmp/serve_wh python benchmarks/bench_serve.py --seconds 20
    RECSQL_WAREHOUSE=/tmp/serve_wh python benchmarks/bench_serve.py --score-beside

Starts the real server (no access log, no rate limit, feedback into a temporary folder) on a
scored warehouse, then a load process with ``--connections`` keep-alive connections, each
asking ``GET /recommendations/{random user}?k=10`` and, every ``--feedback-every`` answers,
``POST /feedback`` with an impression and a click on that answer (fsynced before the 200).
Latency is what the client saw (queueing included). Server and client share the machine's
cores, as they would on one box. ``--score-beside`` runs `recsql score` during the load: the
reads must keep answering and pick up the new run. Appends a record to
benchmarks/results/serve.json. Targets (2 cores): >= 1,000 requests/s, reads p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from results_file import append_record

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _request(reader, writer, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive exchange (the load generator's own tiny client)."""
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    if body is not None:
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + (body or b""))
    headers = await reader.readuntil(b"\r\n\r\n")
    status = int(headers[9:12])
    length = 0
    for line in headers.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _connection(port, users, seconds, feedback_every, stats, seed) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        user = rng.choice(users)
        started = time.perf_counter()
        status, payload = await _request(
            reader, writer, "GET", f"/recommendations/{user}?k=10", None
        )
        stats["recommendations"].append(time.perf_counter() - started)
        if status != 200:
            stats["errors"].append(status)
            continue
        answer = json.loads(payload)
        stats["runs"].add(answer["run_id"])
        n += 1
        if feedback_every and n % feedback_every == 0 and answer["items"]:
            item = answer["items"][rng.randrange(len(answer["items"]))]
            base = {"request_id": answer["request_id"], "user_id": answer["user_id"],
                    "item_id": item["item_id"], "position": item["rank"]}  # fmt: skip
            body = json.dumps(
                {"events": [{**base, "event_type": "impression"}, {**base, "event_type": "click"}]}
            ).encode()
            started = time.perf_counter()
            status, _ = await _request(reader, writer, "POST", "/feedback", body)
            stats["feedback"].append(time.perf_counter() - started)
            if status != 200:
                stats["errors"].append(status)
    writer.close()


def _load(port, users, seconds, connections, feedback_every, out) -> None:
    """The load process: ``connections`` concurrent keep-alive clients on one event loop."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    stats = {"recommendations": [], "feedback": [], "errors": [], "runs": set()}

    async def main() -> None:
        await asyncio.gather(*(
            _connection(port, users, seconds, feedback_every, stats, seed)
            for seed in range(connections)
        ))  # fmt: skip

    asyncio.run(main())
    stats["runs"] = sorted(stats["runs"])
    Path(out).write_text(json.dumps(stats))


def _summary(latencies: list[float], seconds: float) -> dict:
    if not latencies:
        return {"requests": 0}
    ordered = sorted(latencies)

    def quantile(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "requests": len(ordered),
        "per_second": round(len(ordered) / seconds, 1),
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "p999_ms": quantile(0.999),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--warehouse", type=Path, default=Path(os.environ.get("RECSQL_WAREHOUSE", "warehouse"))
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--feedback-every", type=int, default=10, help="0 = reads only")
    parser.add_argument(
        "--score-beside", action="store_true", help="run `recsql score` during the load"
    )
    args = parser.parse_args()
    db = args.warehouse / "recsql.duckdb"
    if not db.exists():
        raise SystemExit(f"{db} does not exist: build, train and score the demo first")
    with duckdb.connect(str(db), read_only=True) as con:
        users = [
            row[0] for row in con.execute("select distinct user_id from recommendations").fetchall()
        ]
    users += [f"new-shopper-{i}" for i in range(max(1, len(users) // 20))]  # cold-start lists

    port = _free_port()
    env = {**os.environ, "RECSQL_WAREHOUSE": str(args.warehouse), "HF_HUB_OFFLINE": "1"}
    env.pop("RECSQL_API_KEY", None)
    with tempfile.TemporaryDirectory() as scratch:
        server = subprocess.Popen(
            [sys.executable, "-c", "from recsql.cli import cli; cli()", "serve", "--db", str(db),
             "--port", str(port), "--rate-limit", "0", "--no-access-log",
             "--feedback-dir", str(Path(scratch) / "feedback")],
            cwd=REPO, env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready") as response:
                        run_before = json.load(response)["run_id"]
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not become ready") from None
                    time.sleep(0.2)
            out = Path(scratch) / "load.json"
            load = multiprocessing.Process(
                target=_load,
                args=(port, users, args.seconds, args.connections, args.feedback_every, out),
            )
            started = time.perf_counter()
            load.start()
            score = None
            if args.score_beside:
                time.sleep(min(2.0, args.seconds / 4))
                score = subprocess.Popen(
                    [sys.executable, "-c", "from recsql.cli import cli; cli()", "score", "--db", str(db)],
                    cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                )  # fmt: skip
            load.join()
            elapsed = time.perf_counter() - started
            score_output = score.communicate()[0].strip().splitlines()[-1:] if score else None
            stats = json.loads(out.read_text())
        finally:
            server.terminate()
            server.wait(timeout=30)

    reads = _summary(stats["recommendations"], elapsed)
    writes = _summary(stats["feedback"], elapsed)
    record = {
        "benchmark": "serve",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "warehouse": str(args.warehouse),
        "users": len(users),
        "seconds": round(elapsed, 1),
        "connections": args.connections,
        "feedback_every": args.feedback_every,
        "score_beside": args.score_beside,
        "score_output": score_output,
        "total_per_second": round((reads["requests"] + writes["requests"]) / elapsed, 1),
        "recommendations": reads,
        "feedback": writes,
        "errors": len(stats["errors"]),
        "runs_seen": stats["runs"],
        "run_before": run_before,
        "targets": {"requests_per_second": 1000, "reads_p99_ms": 20},
    }
    record["meets_targets"] = (
        record["total_per_second"] >= 1000
        and reads.get("p99_ms", 1e9) <= 20
        and not record["errors"]
    )
    append_record("serve", record)


if __name__ == "__main__":
    main()
