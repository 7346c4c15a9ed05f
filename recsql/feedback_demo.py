"""``recsql demo-feedback``: shoppers who see the served lists and click or buy, for the demo.

Each simulated shopper fetches their list (``GET /recommendations/{user}``), sees every item
(an ``impression``), clicks with a probability that falls with the position
(``click_rate * position ** -position_decay``), puts a clicked item in the cart with
``cart_rate`` and buys a carted one with ``buy_rate``; the events go back with
``POST /feedback``. Against a running server (``url``) this is the real loop over HTTP;
without one, the same service code validates the events and writes them through the same
store, reading the published run from the DuckDB file once.

The visits happen on the day after the warehouse's data ends (its serve cutoff), as if the
lists had gone live then; ``append_purchases_to`` also records the simulated purchases in the
shop's interaction log, as its order system would, so the next ``dbt build`` moves its cutoffs
past the visits and learns from them (labels in the latest window, shown/skipped features).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

from recsql import errors, warehouse
from recsql.serve_snapshot import load_snapshot


@dataclass(frozen=True)
class ShopperModel:
    """How simulated shoppers behave; position bias is what a later model must correct for."""

    click_rate: float = 0.30  # at position 1
    position_decay: float = 0.8
    cart_rate: float = 0.35  # of clicks
    buy_rate: float = 0.5  # of carts
    cold_start_share: float = 0.05  # shoppers the warehouse does not know


@dataclass
class FeedbackRun:
    shoppers: int = 0
    events: Counter = field(default_factory=Counter)
    runs: set = field(default_factory=set)
    purchases: list = field(default_factory=list)  # the events, as sent
    log: Path | None = None  # the interaction log they were appended to


def shopper_events(
    answer: dict, rng: random.Random, model: ShopperModel, when: datetime
) -> list[dict]:
    """What one shopper did with one served list: impressions, then the funnel per item."""
    events = []
    for entry in answer["items"]:
        position, item_id = entry["rank"], entry["item_id"]
        base = {
            "request_id": answer["request_id"], "user_id": answer["user_id"],
            "item_id": item_id, "position": position,
        }  # fmt: skip
        stamp = when
        events.append({**base, "event_type": "impression", "event_ts": stamp.isoformat()})
        if rng.random() >= model.click_rate * position**-model.position_decay:
            continue
        for event_type, rate in (("click", 1.0), ("add_to_cart", model.cart_rate),
                                 ("purchase", model.buy_rate)):  # fmt: skip
            if rng.random() >= rate:
                break
            stamp += timedelta(seconds=rng.randint(2, 90))
            events.append({**base, "event_type": event_type, "event_ts": stamp.isoformat()})
    return events


def _shopper_ids(db: Path, shoppers: int, rng: random.Random, model: ShopperModel, table: str):
    with warehouse.connect(db, read_only=True) as con:
        users = [
            row[0]
            for row in con.execute(
                f"select distinct user_id from {warehouse.quote(table)} order by user_id"
            ).fetchall()
        ]
    if not users:
        raise errors.NotBuilt(f"{table} is empty: run `recsql score` first")
    chosen = []
    for index in range(shoppers):
        if rng.random() < model.cold_start_share:
            chosen.append(f"demo-new-shopper-{index}")
        else:
            chosen.append(rng.choice(users))
    return chosen


class _Http:
    """One keep-alive connection to the server."""

    def __init__(self, url: str, api_key: str | None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise errors.BadSetting(f"--url {url}: give http://host:port of `recsql serve`")
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        self.headers = {"x-api-key": api_key} if api_key else {}

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise errors.RecsqlError(f"cannot reach recsql serve: {error}") from error
        if response.status != 200:
            reason = payload.decode(errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                reason = json.loads(payload)["error"]
            raise errors.RecsqlError(f"{method} {path}: HTTP {response.status}: {reason}")
        return json.loads(payload)

    def close(self) -> None:
        self.connection.close()


def simulate(
    db: Path,
    *,
    shoppers: int = 500,
    k: int = 10,
    seed: int = 7,
    url: str | None = None,
    api_key: str | None = None,
    feedback_dir: Path | None = None,
    table: str = "recommendations",
    model: ShopperModel = ShopperModel(),
    append_purchases_to: Path | None = None,
) -> FeedbackRun:
    """Simulate ``shoppers`` visits; POST to ``url`` or, without it, write to the store."""
    rng = random.Random(seed)
    users = _shopper_ids(db, shoppers, rng, model, table)
    result = FeedbackRun()
    now = visit_day(db)
    if append_purchases_to is not None:
        result.log = append_purchases_to
    if url:
        client = _Http(url, api_key)
        try:
            for user in users:
                answer = client.call("GET", f"/recommendations/{quote(str(user), safe='')}?k={k}")
                events = shopper_events(answer, rng, model, now)
                if events:
                    client.call("POST", "/feedback", {"events": events})
                result.purchases += [e for e in events if e["event_type"] == "purchase"]
                result.shoppers += 1
                result.runs.add(answer["run_id"])
                result.events.update(event["event_type"] for event in events)
        finally:
            client.close()
    else:
        _simulate_in_process(db, users, k, rng, model, now, feedback_dir, table, result)
    if append_purchases_to is not None:
        append_purchases(append_purchases_to, result.purchases)
    return result


def visit_day(db: Path) -> datetime:
    """10:00 on the day after the serve cutoff (the end of the data), or now if that is later."""
    with warehouse.connect(db, read_only=True) as con:
        rows = con.execute(
            "select max(cutoff_ts) from int_snapshots where split = 'serve'"
        ).fetchall()
    now = datetime.now(UTC) - timedelta(minutes=10)
    if not rows or rows[0][0] is None:
        return now
    day = datetime.combine(rows[0][0].date() + timedelta(days=1), datetime.min.time(), UTC)
    return min(now, day + timedelta(hours=10))


def append_purchases(log: Path, purchases: list[dict]) -> None:
    """Add the simulated purchases to the interaction log file (Parquet), keeping its columns
    and types: quantity 1, the item's median price in the log, the request as the order. The
    file is replaced whole, by rename, so a reader never sees half of it."""
    import duckdb
    import pyarrow as pa

    if not log.exists() or log.suffix != ".parquet":
        raise errors.NotBuilt(f"{log} is not a Parquet interaction log to append to")
    rows = pa.table(
        {
            "user_id": pa.array([e["user_id"] for e in purchases], pa.string()),
            "item_id": pa.array([str(e["item_id"]) for e in purchases], pa.string()),
            "event_ts": pa.array(
                [datetime.fromisoformat(e["event_ts"]).replace(tzinfo=None) for e in purchases],
                pa.timestamp("us"),
            ),
            "order_id": pa.array([e["request_id"] for e in purchases], pa.string()),
        }
    )
    temporary = log.with_name(f".{log.name}.appending")
    source = f"read_parquet({warehouse.quote_literal(log)})"
    with duckdb.connect() as con:
        con.register("bought", rows)
        described = con.execute(f"describe select * from {source}").fetchall()
        columns = {row[0]: row[1] for row in described}
        given = {"user_id": "bought.user_id", "item_id": "bought.item_id",
                 "event_ts": "bought.event_ts", "order_id": "bought.order_id",
                 "event_type": "'purchase'", "quantity": "1", "price": "prices.price"}  # fmt: skip
        select = ", ".join(
            f'cast({given.get(name, "null")} as {kind}) as "{name}"'
            for name, kind in columns.items()
        )
        con.execute(
            f"copy (select * from {source} union all"
            f" select {select} from bought left join ("
            f"   select cast(item_id as varchar) as item_id, median(price) as price"
            f"   from {source} where price > 0 group by 1"
            f" ) as prices on prices.item_id = bought.item_id)"
            f" to {warehouse.quote_literal(temporary)} (format parquet)"
        )
    temporary.replace(log)


def _simulate_in_process(db, users, k, rng, model, now, feedback_dir, table, result):
    """The same answers and checks as the server, without one: the service's own code."""
    from recsql.feedback import FeedbackStore
    from recsql.feedback import feedback_dir as default_feedback_dir
    from recsql.serve import ServeSettings, Service

    folder = feedback_dir or default_feedback_dir()
    service = Service(ServeSettings(db=db, feedback_dir=folder, table=table))
    with warehouse.connect(db, read_only=True) as con:
        snapshot = load_snapshot(con, table)
    service.publisher.current = snapshot
    with FeedbackStore(folder) as store:
        for user in users:
            served = snapshot.lists.get(user)
            kind = "p" if served is not None else "c"
            served = served if served is not None else snapshot.cold_start
            shown = min(k, len(served.items))
            answer = {
                "request_id": service.ids.make(snapshot.run_id, kind, shown, user),
                "user_id": user,
                "items": json.loads(served.json_items(shown)),
            }
            events = shopper_events(answer, rng, model, now)
            if events:
                store.append(service.validate(json.dumps({"events": events}).encode()))
                result.purchases += [e for e in events if e["event_type"] == "purchase"]
            result.shoppers += 1
            result.events.update(event["event_type"] for event in events)
    result.runs.add(snapshot.run_id)
