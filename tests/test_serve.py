"""recsql serve: the real server in a subprocess on a loopback port, over a scored demo warehouse."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from recsql.cli import cli
from tests.conftest import REPO, Warehouse, copy_warehouse

API_KEY = "test-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``recsql serve`` started as a real process; ``call`` talks HTTP to it."""

    def __init__(self, warehouse: Warehouse, *args: str, api_key: str | None = API_KEY) -> None:
        self.warehouse = warehouse
        self.port = free_port()
        self.api_key = api_key
        self.log = warehouse.root / f"serve-{self.port}.log"
        env = {
            **os.environ, "RECSQL_WAREHOUSE": str(warehouse.root),
            "RECSQL_CACHE": str(warehouse.cache), "HF_HUB_OFFLINE": "1",
        }  # fmt: skip
        env.pop("RECSQL_DB", None)
        env.pop("RECSQL_API_KEY", None)
        command = [
            sys.executable, "-c", "from recsql.cli import cli; cli()", "serve",
            "--db", str(warehouse.db), "--port", str(self.port), "--poll-seconds", "0.2",
            *(["--api-key", api_key] if api_key else []), *args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb")
        )

    def wait_ready(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                status, body, _ = self.call("GET", "/ready")
            except OSError:
                time.sleep(0.1)
                continue
            if status == 200:
                return body
            time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout} s:\n{self.log.read_text()}")

    def call(
        self, method: str, path: str, body: object = None, *, key: str | None = "default",
        raw: bytes | None = None, connection: http.client.HTTPConnection | None = None,
    ) -> tuple[int, dict, dict]:  # fmt: skip
        """(status, JSON body, headers) of one request."""
        headers = {}
        key = self.api_key if key == "default" else key
        if key:
            headers["x-api-key"] = key
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["content-type"] = "application/json"
        own = connection is None
        connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            if own:
                connection.close()
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = {"text": payload.decode()}
        return response.status, parsed, {k.lower(): v for k, v in response.getheaders()}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown hook runs
        self.process.wait()

    def log_lines(self) -> list[dict]:
        return [
            json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")
        ]


@pytest.fixture(scope="module")
def scored_warehouse(trained_warehouse: Warehouse, tmp_path_factory) -> Warehouse:
    """A private copy of the trained demo warehouse with one recommendations run."""
    from recsql.scoring import score_serve_snapshot

    warehouse = copy_warehouse(trained_warehouse, tmp_path_factory.mktemp("served-warehouse"))
    with warehouse.env():
        score_serve_snapshot(warehouse.db, top_k=10)
    return warehouse


@pytest.fixture(scope="module")
def server(scored_warehouse: Warehouse) -> Iterator[Server]:
    running = Server(scored_warehouse, "--rate-limit", "0")
    running.wait_ready()
    yield running
    running.stop()


def test_every_route_answers_and_names_the_one_run_it_came_from(server, scored_warehouse) -> None:
    run_id, version = scored_warehouse.query(
        "select any_value(run_id), any_value(model_version) from recommendations"
    )[0]
    user = scored_warehouse.query("select min(user_id) from recommendations")[0][0]
    expected = [
        row[0]
        for row in scored_warehouse.query(
            "select item_id from recommendations where user_id = ? order by rank", [user]
        )
    ]

    status, health, _ = server.call("GET", "/health", key=None)
    assert (status, health["status"]) == (200, "ok")
    status, ready, _ = server.call("GET", "/ready", key=None)
    assert status == 200 and ready["run_id"] == run_id and ready["model_version"] == version

    status, answer, headers = server.call("GET", f"/recommendations/{user}?k=5")
    assert status == 200, answer
    assert (answer["run_id"], answer["model_version"], answer["list"]) == (
        run_id,
        version,
        "personal",
    )
    assert answer["request_id"] and headers["x-request-id"] == answer["request_id"]
    assert [item["item_id"] for item in answer["items"]] == expected[:5]
    assert [item["rank"] for item in answer["items"]] == [1, 2, 3, 4, 5]
    assert all(item["reason"] for item in answer["items"])

    status, answer, _ = server.call("GET", "/recommendations/nobody-we-know")
    assert (status, answer["list"], answer["run_id"]) == (200, "cold_start", run_id)
    popular = scored_warehouse.query(
        "select item_id from int_item_popularity where snapshot = 'serve'"
        " order by events_7d desc, events_30d desc, item_id limit 10"
    )
    assert [item["item_id"] for item in answer["items"]] == [row[0] for row in popular]

    item, neighbours = scored_warehouse.query(
        "select item_id, list(neighbour_item_id order by rank) from similar_items"
        " group by item_id order by item_id limit 1"
    )[0]
    status, answer, _ = server.call("GET", f"/similar/{item}?k=3")
    assert status == 200 and answer["run_id"] == run_id
    assert [entry["item_id"] for entry in answer["items"]] == neighbours[:3]
    status, answer, _ = server.call("GET", "/similar/no-such-item")
    assert status == 404 and "no similar items" in answer["error"]

    status, metrics, _ = server.call("GET", "/metrics", key=None)
    text = metrics["text"]
    assert status == 200
    assert f'recsql_run_info{{model_version="{version}",run_id="{run_id}"}} 1.0' in text
    assert 'recsql_requests_total{route="recommendations",status="200"}' in text
    assert 'recsql_request_seconds_bucket{le="0.005",route="recommendations"}' in text

    logged = [line for line in server.log_lines() if line.get("event") == "request"]
    assert logged and {"status", "ms", "route", "request_id", "client"} <= set(logged[-1])


def test_data_routes_need_the_api_key_and_probes_do_not(server) -> None:
    for path in ("/recommendations/1", "/similar/1"):
        assert server.call("GET", path, key=None)[0] == 401
        assert server.call("GET", path, key="wrong")[0] == 401
    status, answer, _ = server.call("POST", "/feedback", {}, key=None)
    assert status == 401 and "X-API-Key" in answer["error"]
    for path in ("/health", "/ready", "/metrics"):
        assert server.call("GET", path, key=None)[0] == 200


def test_bad_requests_get_a_4xx_with_the_reason(server, scored_warehouse) -> None:
    user = scored_warehouse.query("select min(user_id) from recommendations")[0][0]
    _, served, _ = server.call("GET", f"/recommendations/{user}?k=3")
    first = served["items"][0]["item_id"]
    good = {
        "event_type": "click", "request_id": served["request_id"], "user_id": user,
        "item_id": first, "position": 1,
    }  # fmt: skip
    assert server.call("POST", "/feedback", good)[0] == 200

    def refused(body=None, raw=None):
        status, answer, _ = server.call("POST", "/feedback", body, raw=raw)
        return status, answer.get("error", "")

    assert server.call("GET", f"/recommendations/{user}?k=abc")[0] == 422
    assert server.call("GET", f"/recommendations/{user}?k=0")[0] == 422
    status, reason = refused(raw=b"{not json")
    assert status == 400 and "not JSON" in reason
    status, reason = refused(raw=b"[1, 2]")
    assert status == 422 and "event object" in reason
    cases = {
        "unknown event_type 'like'": {**good, "event_type": "like"},
        "missing field(s) position": {k: v for k, v in good.items() if k != "position"},
        "unknown field(s) colour": {**good, "colour": "red"},
        "was never served": {**good, "request_id": "made.p3.up.id.here"},
        "never served to user 'someone-else'": {**good, "user_id": "someone-else"},
        "was not in the list": {**good, "item_id": "no-such-item"},
        f"item {first!r} was served at position 1, not 2": {**good, "position": 2},
        "past the 3 items": {**good, "position": 4},
        "position must be a whole number": {**good, "position": "1"},
        "not an ISO 8601 time": {**good, "event_ts": "yesterday"},
        "events[1]: unknown event_type": {"events": [good, {**good, "event_type": "x"}]},
    }
    for expected, body in cases.items():
        status, reason = refused(body)
        assert status == 422 and expected in reason, (expected, status, reason)
    _, similar, _ = server.call("GET", f"/similar/{first}?k=2")
    status, reason = refused({**good, "request_id": similar["request_id"], "user_id": first})
    assert status == 422 and "not /similar" in reason
    status, reason = refused(raw=json.dumps({"events": [good] * 1000}).encode())
    assert status == 413 and "byte limit" in reason
    status, answer, _ = server.call("GET", "/feedback")
    assert status == 405 and "GET is not allowed" in answer["error"]
    status, answer, _ = server.call("GET", "/recommendation/1")
    assert status == 404 and "no route" in answer["error"]


def test_the_rate_limit_answers_429_with_retry_after(scored_warehouse) -> None:
    limited = Server(scored_warehouse, "--rate-limit", "1", "--burst", "3", "--no-access-log")
    try:
        limited.wait_ready()
        statuses = [limited.call("GET", "/recommendations/x")[0] for _ in range(6)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
        status, answer, headers = limited.call("GET", "/similar/x")
        assert (
            status == 429 and "rate limit" in answer["error"] and int(headers["retry-after"]) >= 1
        )
        assert limited.call("GET", "/health", key=None)[0] == 200  # probes are not limited
    finally:
        limited.stop()


def test_binding_beyond_this_machine_needs_an_api_key(scored_warehouse) -> None:
    with scored_warehouse.env():
        result = CliRunner().invoke(
            cli, ["serve", "--db", str(scored_warehouse.db), "--host", "0.0.0.0"]
        )
    assert result.exit_code == 1
    assert "set an API key" in result.output and "Traceback" not in result.output


def test_a_new_run_is_picked_up_during_a_score_and_every_answer_comes_from_one_run(
    server, scored_warehouse
) -> None:
    old_run = server.call("GET", "/ready", key=None)[1]["run_id"]
    users = [row[0] for row in scored_warehouse.query(
        "select distinct user_id from recommendations order by user_id limit 20"
    )]  # fmt: skip
    answers: list[dict] = []
    failures: list[tuple[int, dict]] = []
    stop = threading.Event()

    def read_all_the_time() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        index = 0
        while not stop.is_set():
            status, answer, _ = server.call(
                "GET", f"/recommendations/{users[index % len(users)]}?k=10", connection=connection
            )
            (answers if status == 200 else failures).append(
                (status, answer) if status != 200 else answer
            )
            index += 1
        connection.close()

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        env = {**os.environ, "RECSQL_WAREHOUSE": str(scored_warehouse.root),
               "RECSQL_CACHE": str(scored_warehouse.cache)}  # fmt: skip
        env.pop("RECSQL_DB", None)
        scored = subprocess.run(
            [sys.executable, "-c", "from recsql.cli import cli; cli()", "score", "--db",
             str(scored_warehouse.db), "--top-k", "10", "--method", "ranker"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert scored.returncode == 0, scored.stderr
        new_run = scored.stdout.strip().rsplit("run ", 1)[1].rstrip(")")
        deadline = time.monotonic() + 30
        while server.call("GET", "/ready", key=None)[1]["run_id"] != new_run:
            assert time.monotonic() < deadline, server.log.read_text()[-2000:]
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        reader.join()
    assert not failures, failures[:3]
    runs = {answer["run_id"] for answer in answers}
    assert runs == {old_run, new_run}, runs
    history = {}
    for run_id, user_id, items in scored_warehouse.query(
        "select run_id, user_id, list(item_id order by rank) from recommendations_history"
        " where run_id in (?, ?) group by run_id, user_id", [old_run, new_run],
    ):  # fmt: skip
        history[(run_id, user_id)] = items
    for answer in answers:  # each list is exactly the one its run published
        expected = history[(answer["run_id"], answer["user_id"])][:10]
        assert [item["item_id"] for item in answer["items"]] == expected
    loads = [line for line in server.log_lines() if line.get("event") == "run_loaded"]
    assert loads[-1]["run_id"] == new_run


def test_a_server_started_before_any_score_is_not_ready_until_one_publishes(
    trained_warehouse: Warehouse, tmp_path: Path
) -> None:
    from recsql.scoring import score_serve_snapshot

    warehouse = copy_warehouse(trained_warehouse, tmp_path / "unscored")
    waiting = Server(warehouse, "--no-access-log")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, ready, _ = waiting.call("GET", "/ready", key=None)
                if "score" in ready.get("reason", ""):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, waiting.log.read_text()
            time.sleep(0.1)
        assert status == 503 and "run `recsql score` first" in ready["reason"]
        status, answer, headers = waiting.call("GET", "/recommendations/u1")
        assert (
            status == 503 and headers["retry-after"] == "1" and "no run loaded" in answer["error"]
        )
        with warehouse.env():
            run = score_serve_snapshot(warehouse.db, top_k=5)
        assert waiting.wait_ready()["run_id"] == run.run_id
    finally:
        waiting.stop()
