"""Feedback: durable before it is acknowledged, sealed for dbt, and counted in the funnel mart."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from recsql.cli import cli
from recsql.feedback import FeedbackStore, read_events, recover_open_segments, segments
from tests import test_serve
from tests.conftest import Warehouse, copy_warehouse
from tests.test_serve import Server

scored_warehouse = test_serve.scored_warehouse  # the same fixture, for this module


def event(n: int) -> dict:
    return {"event_id": f"e{n}", "event_type": "click", "user_id": "u", "item_id": str(n)}


def test_the_store_seals_segments_by_age_and_on_close(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path, rotate_seconds=0.3)
    assert store.append([event(1), event(2)]) == 2
    assert [path.suffix for path in segments(tmp_path)] == [".part"]  # open, not for dbt yet
    time.sleep(1.5)  # the writer thread seals it once it is old enough
    assert [path.name.endswith(".jsonl") for path in segments(tmp_path)] == [True]
    store.append([event(3)])
    store.close()
    assert not list(tmp_path.glob("*.part"))
    assert [e["event_id"] for e in read_events(tmp_path)] == ["e1", "e2", "e3"]


def test_a_segment_left_open_loses_only_its_torn_last_line(tmp_path: Path) -> None:
    dead = tmp_path / "20260101T000000000000-999999999-000001.jsonl.part"  # no such pid
    dead.write_bytes(b'{"event_id":"a"}\n{"event_id":"b"}\n{"event_id":"c')
    empty = tmp_path / "20260101T000000000000-999999998-000001.jsonl.part"
    empty.write_bytes(b'{"event_id":"torn')
    sealed = recover_open_segments(tmp_path)
    assert [path.name for path in sealed] == ["20260101T000000000000-999999999-000001.jsonl"]
    assert not empty.exists()
    assert [e["event_id"] for e in read_events(tmp_path)] == ["a", "b"]


def test_no_acknowledged_event_is_lost_when_the_server_is_killed(
    scored_warehouse: Warehouse, tmp_path: Path
) -> None:
    folder = tmp_path / "feedback"
    server = Server(scored_warehouse, "--rate-limit", "0", "--no-access-log",
                    "--feedback-dir", str(folder))  # fmt: skip
    server.wait_ready()
    users = [row[0] for row in scored_warehouse.query(
        "select distinct user_id from recommendations order by user_id limit 50"
    )]  # fmt: skip
    acknowledged: set[str] = set()
    lock = threading.Lock()
    served: list[dict] = []
    for user in users:
        status, answer, _ = server.call("GET", f"/recommendations/{user}?k=10")
        assert status == 200
        served.append(answer)

    def post_until_refused(worker: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        n = 0
        while True:
            answer = served[(worker * 7 + n) % len(served)]
            item = answer["items"][n % 10]
            body = {"events": [{
                "event_id": f"w{worker}-{n}-{kind}", "event_type": kind,
                "request_id": answer["request_id"], "user_id": answer["user_id"],
                "item_id": item["item_id"], "position": item["rank"],
            } for kind in ("impression", "click")]}  # fmt: skip
            try:
                status, reply, _ = server.call("POST", "/feedback", body, connection=connection)
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this request was never acknowledged
            assert status == 200, reply
            with lock:
                acknowledged.update(reply["event_ids"])
            n += 1

    workers = [threading.Thread(target=post_until_refused, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 400 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # kill -9 mid-stream
    for worker in workers:
        worker.join()
    assert len(acknowledged) >= 400
    assert list(folder.glob("*.part")), "the killed server left its segment open"

    stored = [e["event_id"] for e in read_events(folder)]
    assert acknowledged <= set(stored), (
        f"{len(acknowledged - set(stored))} acknowledged events lost"
    )
    assert len(stored) == len(set(stored))

    # a new server seals the killed one's segment and still knows its request ids
    restarted = Server(scored_warehouse, "--rate-limit", "0", "--feedback-dir", str(folder))
    try:
        restarted.wait_ready()
        answer = served[0]
        first = answer["items"][0]
        status, reply, _ = restarted.call("POST", "/feedback", {
            "event_id": "after-restart", "event_type": "purchase",
            "request_id": answer["request_id"], "user_id": answer["user_id"],
            "item_id": first["item_id"], "position": 1,
        })  # fmt: skip
        assert status == 200, reply
        recovered = [
            line for line in restarted.log_lines() if line.get("event") == "segment_recovered"
        ]
        assert recovered
    finally:
        restarted.stop()
    assert not list(folder.glob("*.part"))
    sealed = [e["event_id"] for e in read_events(folder, include_open=False)]
    assert sorted(sealed) == sorted([*stored, "after-restart"])


@pytest.fixture
def warehouse_with_feedback(scored_warehouse: Warehouse, tmp_path: Path) -> Warehouse:
    warehouse = copy_warehouse(scored_warehouse, tmp_path / "wh")
    for leftover in (warehouse.root / "feedback").glob("*.jsonl*"):
        leftover.unlink()  # only this test's shoppers
    return warehouse


def test_simulated_shoppers_flow_into_the_funnel_mart(warehouse_with_feedback: Warehouse) -> None:
    warehouse = warehouse_with_feedback
    with warehouse.env():
        result = CliRunner().invoke(
            cli, ["demo-feedback", "--db", str(warehouse.db), "--shoppers", "400", "--k", "10"]
        )
    assert result.exit_code == 0, result.output
    assert "400 shoppers" in result.output
    events = list(read_events(warehouse.root / "feedback", include_open=False))
    assert events and all(e["model_version"] and e["reason"] for e in events)

    warehouse.build(select="path:models/feedback")
    funnel = warehouse.query(
        "select position, sum(impressions), sum(clicks), sum(add_to_carts), sum(purchases),"
        " sum(clicks) / sum(impressions) from feedback_funnel group by position order by position"
    )
    impressions = sum(1 for e in events if e["event_type"] == "impression")
    assert sum(row[1] for row in funnel) == impressions
    assert sum(row[4] for row in funnel) == sum(1 for e in events if e["event_type"] == "purchase")
    assert [row[0] for row in funnel] == list(range(1, 11))
    assert funnel[0][5] > funnel[-1][5] * 2  # position bias: the top is clicked far more
    assert all(row[2] >= row[3] >= row[4] for row in funnel)  # a funnel narrows
    runs = warehouse.query("select distinct run_id from feedback_funnel")
    assert runs == warehouse.query("select distinct run_id from recommendations")


def test_the_project_builds_without_any_feedback(demo_warehouse: Warehouse) -> None:
    assert not (demo_warehouse.root / "feedback").exists()
    assert demo_warehouse.query("select count(*) from stg_feedback_events") == [(0,)]
    assert demo_warehouse.query("select count(*) from feedback_funnel") == [(0,)]


def test_feedback_path_false_ignores_segments(warehouse_with_feedback: Warehouse) -> None:
    warehouse = warehouse_with_feedback
    with FeedbackStore(warehouse.root / "feedback") as store:
        store.append([{"event_id": "x", "event_type": "click", "request_id": "r", "run_id": "r",
                       "user_id": "u", "item_id": "i", "position": 1,
                       "event_ts": "2026-01-01T00:00:00Z"}])  # fmt: skip
    warehouse.build(select="path:models/feedback", vars={"feedback_path": False})
    assert warehouse.query("select count(*) from stg_feedback_events") == [(0,)]
    warehouse.build(select="path:models/feedback")
    assert warehouse.query("select count(*) from stg_feedback_events") == [(1,)]


def test_feedback_becomes_labels_and_point_in_time_features(
    warehouse_with_feedback: Warehouse,
) -> None:
    """A click in a snapshot's label window labels it (graded like a logged click); lists shown
    before a cutoff become user_item_times_shown / _skipped / _best_position as of that cutoff,
    never anything shown at or after it."""
    from datetime import timedelta

    warehouse = warehouse_with_feedback
    cutoffs = dict(warehouse.query("select snapshot, cutoff_ts from int_snapshots"))
    [(user, shown_item)] = warehouse.query(
        "select user_id, item_id from fct_candidates where snapshot = 'test' and label = 0"
        " and user_id in (select user_id from fct_candidates where snapshot = 'train')"
        " order by user_id, item_id limit 1"
    )
    [(skipped_item,)] = warehouse.query(
        "select item_id from fct_candidates where snapshot = 'train' and user_id = ?"
        " and item_id <> ? order by item_id limit 1",
        [user, shown_item],
    )

    def at(snapshot: str, days: float) -> str:
        return (cutoffs[snapshot] + timedelta(days=days)).isoformat() + "Z"

    def shown(n: int, request: str, item: str, kind: str, position: int, when: str) -> dict:
        return {"event_id": f"f{n}", "event_type": kind, "request_id": request, "run_id": "r",
                "user_id": user, "item_id": item, "position": position, "event_ts": when}  # fmt: skip

    with FeedbackStore(warehouse.root / "feedback") as store:
        store.append([
            shown(1, "before-train", skipped_item, "impression", 2, at("train", -2)),
            shown(2, "before-train", shown_item, "impression", 1, at("train", -2)),
            shown(3, "before-train", shown_item, "click", 1, at("train", -1.9)),
            shown(4, "in-test-window", shown_item, "impression", 3, at("test", 1)),
            shown(5, "in-test-window", shown_item, "click", 3, at("test", 1.01)),
            shown(6, "after-serve", skipped_item, "impression", 1, at("serve", 1)),
        ])  # fmt: skip
    warehouse.build(select="path:models/feedback int_labels")
    assert warehouse.query(
        "select label_grade from int_labels where snapshot = 'test' and user_id = ?"
        " and item_id = ?",
        [user, shown_item],
    ) == [(1,)]  # event_weights: click 1
    features = warehouse.query(
        "select snapshot, item_id, times_shown, times_skipped, best_position"
        " from int_user_item_feedback where user_id = ? and snapshot in ('train', 'test', 'serve')"
        " order by snapshot, item_id",
        [user],
    )
    expected = {
        ("train", shown_item): (1, 0, 1), ("train", skipped_item): (1, 1, 2),
        ("test", shown_item): (1, 0, 1), ("test", skipped_item): (1, 1, 2),
        ("serve", shown_item): (2, 0, 1), ("serve", skipped_item): (1, 1, 2),
    }  # fmt: skip
    assert {(s, i): tuple(rest) for s, i, *rest in features} == expected
    warehouse.build(select="fct_candidates")
    carried = warehouse.query(
        "select count(*), count(*) filter (where user_item_times_shown = feedback.times_shown"
        " and user_item_times_skipped = feedback.times_skipped"
        " and user_item_best_position = feedback.best_position)"
        " from fct_candidates inner join int_user_item_feedback as feedback"
        " using (snapshot, user_id, item_id)"
    )[0]
    assert carried[0] >= 1 and carried[0] == carried[1], carried


def test_on_the_demo_the_visits_flow_into_the_next_build_and_model(
    warehouse_with_feedback: Warehouse, demo_warehouse: Warehouse
) -> None:
    """demo-feedback --append-purchases-to: shoppers visit the day after the data ends, their
    purchases reach the log, and the next dbt build moves its cutoffs past the visits: their
    engagement labels the latest window, the serve rows carry what users were shown, and the
    next recsql train learns with those features."""
    import shutil

    from recsql.training import train_ranker

    warehouse = warehouse_with_feedback
    shutil.copytree(demo_warehouse.raw, warehouse.raw)
    [(data_end,)] = warehouse.query("select cutoff_ts from int_snapshots where split = 'serve'")
    log = warehouse.raw / "interactions.parquet"
    with warehouse.env():
        result = CliRunner().invoke(
            cli,
            ["demo-feedback", "--db", str(warehouse.db), "--shoppers", "600",
             "--append-purchases-to", str(log)],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "purchases added to" in result.output
    warehouse.build()
    [(serve_cutoff, test_cutoff)] = warehouse.query(
        "select max(cutoff_ts) filter (where split = 'serve'),"
        " max(cutoff_ts) filter (where split = 'test') from int_snapshots"
    )
    assert serve_cutoff > data_end  # the visits' purchases moved the end of the data
    [(feedback_labels,)] = warehouse.query(
        "select count(*) from int_labels inner join int_feedback_events as feedback"
        " using (user_id, item_id) where int_labels.snapshot = 'test'"
        " and feedback.event_type in ('click', 'add_to_cart')"
        " and feedback.event_ts >= ? and feedback.event_ts < ?",
        [test_cutoff, serve_cutoff],
    )
    assert feedback_labels > 20
    [(shown_rows,)] = warehouse.query(
        "select count(*) from fct_candidates where split = 'serve' and user_item_times_shown > 0"
    )
    assert shown_rows > 100
    assert warehouse.query("select sum(impressions) from feedback_funnel")[0][0] > 1000
    with warehouse.env():
        model = train_ranker(warehouse.db, rounds=40, seed=1, show_progress=False)
    importance = dict(
        warehouse.query(
            "select feature_name, gain from feature_importance where model_version = ?",
            [model.model_version],
        )
    )
    assert "user_item_times_shown" in importance and "user_item_best_position" in importance


def test_purchases_append_to_a_log_whose_path_has_a_quote(tmp_path) -> None:
    """The log's path goes into SQL as a literal: a quote in a folder name must not end it."""
    import duckdb

    from recsql.feedback_demo import append_purchases

    log = tmp_path / "o'brien's shop" / "interactions.parquet"
    log.parent.mkdir()
    duckdb.sql(
        "select 'u1' as user_id, 7 as item_id, timestamp '2025-01-01 10:00' as event_ts,"
        " 'o1' as order_id, 2.5 as price"
    ).write_parquet(str(log))
    append_purchases(log, [{"user_id": "u2", "item_id": 7, "event_ts": "2025-01-02T09:00:00",
                            "request_id": "r1"}])  # fmt: skip
    rows = (
        duckdb.read_parquet(str(log)).project("user_id, item_id, order_id, price").order("user_id")
    ).fetchall()
    assert rows == [("u1", 7, "o1", 2.5), ("u2", 7, "r1", 2.5)]
