"""``recsql serve``: recommendations over HTTP and the feedback that closes the loop.

Starlette on uvicorn. Reads come from an in-memory copy of one published run
(``serve_snapshot.Publisher``), never from the DuckDB file per request, so the service keeps
answering while ``dbt build`` or ``recsql score`` hold the file, and every answer names the one
run it came from. Feedback goes to the append-only store (``feedback.FeedbackStore``) and is
fsynced before the 200.

Routes: ``GET /recommendations/{user_id}?k=``, ``GET /similar/{item_id}?k=``,
``POST /feedback``, ``GET /health``, ``GET /ready``, ``GET /metrics`` (Prometheus text).
A user without a list of their own (no history at the serve cutoff, or unknown to the
warehouse) gets the cold-start list, marked ``"list": "cold_start"``; an item without
neighbours is a 404.

Each list answer carries a ``request_id``: a signed token naming the run, the list kind and
its length, keyed by a secret kept in the feedback folder (so ids stay valid across restarts).
Feedback must quote one served to the same user, and name an item at the position it was
served. ``X-API-Key`` guards the data routes when a key is set; /health, /ready and /metrics
stay open for probes and scrapers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from recsql import errors
from recsql.feedback import EVENT_TYPES, FeedbackStore
from recsql.serve_snapshot import Publisher, ServedList, Snapshot

log = logging.getLogger("recsql.serve")

DEFAULT_K = 10
MAX_EVENTS_PER_POST = 500
KEY_FILE = ".request-key"
EVENT_FIELDS = {
    "event_type", "request_id", "user_id", "item_id", "position", "event_ts", "event_id",
}  # fmt: skip
REQUIRED_FIELDS = ("event_type", "request_id", "user_id", "item_id", "position")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``recsql serve`` is started with; defaults in the CLI's --help."""

    db: Path
    feedback_dir: Path
    table: str = "recommendations"
    api_key: str | None = None
    rate_limit: float = 1000.0  # requests per second per client; 0 = off
    rate_burst: int = 2000
    max_body_bytes: int = 64 * 1024
    poll_seconds: float = 1.0
    settle_seconds: float = 0.5
    rotate_seconds: float = 10.0
    access_log: bool = True


class Problem(Exception):
    """An answer other than 200, with the reason the client gets."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


# ---------------------------------------------------------------- logs
class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's extra fields."""

    SKIP = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message", "asctime", "color_message",  # uvicorn's terminal-coloured copy of msg
    }  # fmt: skip

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in self.SKIP})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, default=str)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("recsql.serve", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


# ---------------------------------------------------------------- request ids
class RequestIds:
    """Signed request ids: ``<run>.<kind><k>.<time>.<nonce>.<signature>``.

    kind: ``p`` a user's own list, ``c`` the cold-start list, ``s`` similar items. The
    signature covers the id and the subject (user or item id), so feedback can be checked
    against what was served without keeping every id in memory.
    """

    def __init__(self, key: bytes) -> None:
        self.key = key

    @classmethod
    def for_folder(cls, folder: Path) -> RequestIds:
        """The folder's key, made on first use (readable by the owner only)."""
        path = folder / KEY_FILE
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def _sign(self, payload: str, subject: str) -> str:
        digest = hmac.new(self.key, f"{payload}|{subject}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def make(self, run_id: str, kind: str, k: int, subject: str) -> str:
        stamp = format(int(time.time() * 1000), "x")
        payload = f"{run_id}.{kind}{k}.{stamp}.{secrets.token_hex(4)}"
        return f"{payload}.{self._sign(payload, subject)}"

    def check(self, request_id: str, subject: str) -> tuple[str, str, int] | None:
        """(run_id, kind, k) if ``request_id`` was signed for ``subject``, else None."""
        parts = request_id.split(".")
        if len(parts) != 5 or not parts[1][1:].isdigit():
            return None
        payload = ".".join(parts[:4])
        if not hmac.compare_digest(parts[4], self._sign(payload, subject)):
            return None
        return parts[0], parts[1][0], int(parts[1][1:])


# ---------------------------------------------------------------- rate limit
class RateLimiter:
    """A token bucket per client address: ``rate`` per second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, client: str) -> float:
        """0 if the request may go ahead (and is counted), else seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self.buckets[client] = (tokens - 1.0, now)
        if len(self.buckets) > 100_000:  # forget clients idle long enough to be full again
            idle = self.burst / self.rate
            self.buckets = {c: v for c, v in self.buckets.items() if now - v[1] < idle}
        return 0.0


# ---------------------------------------------------------------- metrics
class Metrics:
    """Prometheus series of one service (its own registry, so tests can make several)."""

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: scrapers need the counts only
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recsql_requests", "Requests answered, by route and status.", ["route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "recsql_request_seconds", "Time to answer, by route.", ["route"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.feedback = Counter(
            "recsql_feedback_events", "Feedback events stored (fsynced), by type.", ["event_type"],
            registry=self.registry,
        )  # fmt: skip
        self.run = Gauge(
            "recsql_run_info", "The loaded run (1 for the current one).",
            ["run_id", "model_version"], registry=self.registry,
        )  # fmt: skip
        self.run_loaded = Gauge(
            "recsql_run_loaded_timestamp_seconds", "When the current run was loaded.",
            registry=self.registry,
        )  # fmt: skip
        self.run_users = Gauge(
            "recsql_run_users", "Users with a list of their own in the current run.",
            registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter("recsql_reloads", "Runs loaded since start.", registry=self.registry)

    def loaded(self, snapshot: Snapshot) -> None:
        self.run.clear()
        self.run.labels(snapshot.run_id, snapshot.model_version).set(1)
        self.run_loaded.set(snapshot.loaded_at)
        self.run_users.set(snapshot.users)
        self.reloads.inc()


# ---------------------------------------------------------------- the app
def _json(data: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    headers = (
        {"x-request-id": data["request_id"], **(headers or {})} if "request_id" in data else headers
    )
    return Response(body, status, headers=headers, media_type="application/json")


def _list_answer(head: dict, items: bytes) -> Response:
    """``head`` as JSON with the pre-serialised ``items`` array spliced in (no re-encoding)."""
    start = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    body = start[:-1] + b',"items":' + items + b"}"
    return Response(
        body, headers={"x-request-id": head["request_id"]}, media_type="application/json"
    )


def _k(request: Request, snapshot: Snapshot) -> int:
    raw = request.query_params.get("k")
    if raw is None:
        return min(DEFAULT_K, snapshot.max_k) or DEFAULT_K
    try:
        k = int(raw)
    except ValueError:
        raise Problem(422, f"k must be a whole number, not {raw!r}") from None
    if k < 1:
        raise Problem(422, f"k must be at least 1, not {k}")
    return k


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Service:
    """The state behind the routes: the publisher, the store, ids, limits and metrics."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.publisher = Publisher(
            settings.db, table=settings.table, poll_seconds=settings.poll_seconds,
            settle_seconds=settings.settle_seconds, on_change=self._loaded,
        )  # fmt: skip
        self.ids = RequestIds.for_folder(settings.feedback_dir)
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        self.store: FeedbackStore | None = None

    def _loaded(self, snapshot: Snapshot) -> None:
        self.metrics.loaded(snapshot)
        log.info(
            "run loaded",
            extra={
                "event": "run_loaded", "run_id": snapshot.run_id,
                "model_version": snapshot.model_version, "users": snapshot.users,
                "similar_items": len(snapshot.similar), "seconds": snapshot.load_seconds,
            },
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.store = FeedbackStore(
            self.settings.feedback_dir, rotate_seconds=self.settings.rotate_seconds
        )
        for path in self.store.recovered:
            log.info(
                "sealed a segment left open",
                extra={"event": "segment_recovered", "path": str(path)},
            )
        self.publisher.start()
        log.info(
            "serving", extra={"event": "start", "db": str(self.settings.db),
                              "feedback_dir": str(self.settings.feedback_dir)},
        )  # fmt: skip
        try:
            yield
        finally:
            self.publisher.stop()
            self.store.close()
            log.info("stopped", extra={"event": "stop", "feedback_stored": self.store.stored})

    # -------------------------------------------------------- the wrapper every route shares
    def route(
        self, name: str, handler: Callable[[Request], Awaitable[Response]], *, guarded: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            client = request.client.host if request.client else "unknown"
            try:
                if guarded:
                    self._check_key(request)
                    wait = self.limiter.retry_after(client)
                    if wait:
                        raise Problem(
                            429, f"rate limit: {self.settings.rate_limit:g} requests/s per client",
                            {"retry-after": str(max(1, round(wait)))},
                        )  # fmt: skip
                response = await handler(request)
            except Problem as problem:
                request_id = uuid.uuid4().hex
                response = _json(
                    {"error": problem.reason, "status": problem.status, "request_id": request_id},
                    problem.status, {**problem.headers, "x-request-id": request_id},
                )  # fmt: skip
            except Exception:
                request_id = uuid.uuid4().hex
                log.exception(
                    "failed", extra={"event": "error", "route": name, "request_id": request_id}
                )
                response = _json(
                    {"error": "internal error (see the server log)", "status": 500,
                     "request_id": request_id}, 500, {"x-request-id": request_id},
                )  # fmt: skip
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(name, str(response.status_code)).inc()
            self.metrics.latency.labels(name).observe(elapsed)
            if self.settings.access_log:
                log.info(
                    "request",
                    extra={
                        "event": "request", "method": request.method, "path": request.url.path,
                        "route": name, "status": response.status_code, "client": client,
                        "ms": round(elapsed * 1000, 3),
                        "request_id": response.headers.get("x-request-id"),
                    },
                )  # fmt: skip
            return response

        return endpoint

    def _check_key(self, request: Request) -> None:
        expected = self.settings.api_key
        if not expected:
            return
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Problem(401, "missing or wrong X-API-Key header")

    def _snapshot(self) -> Snapshot:
        snapshot = self.publisher.current
        if snapshot is None:
            why = self.publisher.last_error or "the first run is being loaded"
            raise Problem(503, f"no run loaded yet: {why}", {"retry-after": "1"})
        return snapshot

    # -------------------------------------------------------- routes
    async def recommendations(self, request: Request) -> Response:
        snapshot = self._snapshot()  # one run for the whole answer
        user_id = request.path_params["user_id"]
        k = _k(request, snapshot)
        served = snapshot.lists.get(user_id)
        kind, name = ("p", "personal") if served is not None else ("c", "cold_start")
        served = served if served is not None else snapshot.cold_start
        k = min(k, len(served.items))
        head = {
            "request_id": self.ids.make(snapshot.run_id, kind, k, user_id),
            "user_id": user_id, "run_id": snapshot.run_id,
            "model_version": snapshot.model_version, "method": snapshot.method,
            "generated_at": snapshot.generated_at, "list": name, "k": k,
        }  # fmt: skip
        return _list_answer(head, served.json_items(k))

    async def similar(self, request: Request) -> Response:
        snapshot = self._snapshot()
        item_id = request.path_params["item_id"]
        k = _k(request, snapshot)
        served = snapshot.similar.get(item_id)
        if served is None:
            raise Problem(404, f"item {item_id!r} has no similar items in run {snapshot.run_id}")
        k = min(k, len(served.items))
        head = {
            "request_id": self.ids.make(snapshot.run_id, "s", k, item_id),
            "item_id": item_id, "run_id": snapshot.run_id,
            "model_version": snapshot.model_version, "k": k,
        }  # fmt: skip
        return _list_answer(head, served.json_items(k))

    async def feedback(self, request: Request) -> Response:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Problem(413, f"body of {declared} bytes is over the {limit} byte limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Problem(413, f"body is over the {limit} byte limit")
        events = self.validate(bytes(body))
        assert self.store is not None
        await asyncio.wrap_future(self.store.submit(events))  # durable before the 200
        for event in events:
            self.metrics.feedback.labels(event["event_type"]).inc()
        request_id = uuid.uuid4().hex
        return _json(
            {"stored": len(events), "event_ids": [e["event_id"] for e in events],
             "request_id": request_id}, headers={"x-request-id": request_id},
        )  # fmt: skip

    def validate(self, body: bytes) -> list[dict]:
        """The events a POST body holds, checked and completed, or a ``Problem`` saying why."""
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Problem(400, f"body is not JSON: {error}") from None
        if isinstance(data, dict) and set(data) == {"events"}:
            data = data["events"]
            if not isinstance(data, list) or not 1 <= len(data) <= MAX_EVENTS_PER_POST:
                raise Problem(422, f"events must be a list of 1 to {MAX_EVENTS_PER_POST} events")
        elif isinstance(data, dict):
            data = [data]
        else:
            raise Problem(422, 'body must be an event object or {"events": [...]}')
        received = datetime.now(UTC)
        checked = []
        for index, event in enumerate(data):
            where = f"events[{index}]: " if len(data) > 1 else ""
            try:
                checked.append(self._event(event, received))
            except Problem as problem:
                raise Problem(problem.status, where + problem.reason) from None
        return checked

    def _event(self, event: object, received: datetime) -> dict:
        if not isinstance(event, dict):
            raise Problem(422, "an event must be a JSON object")
        unknown = sorted(set(event) - EVENT_FIELDS)
        if unknown:
            raise Problem(
                422,
                f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(EVENT_FIELDS))}",
            )
        missing = [name for name in REQUIRED_FIELDS if event.get(name) in (None, "")]
        if missing:
            raise Problem(422, f"missing field(s) {', '.join(missing)}")
        event_type = event["event_type"]
        if event_type not in EVENT_TYPES:
            raise Problem(
                422, f"unknown event_type {event_type!r}; known: {', '.join(EVENT_TYPES)}"
            )
        for name in ("request_id", "user_id", "item_id"):
            if not isinstance(event[name], str | int) or isinstance(event[name], bool):
                raise Problem(422, f"{name} must be text or a whole number")
        request_id, user_id, item_id = (str(event[n]) for n in ("request_id", "user_id", "item_id"))
        position = event["position"]
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            raise Problem(422, f"position must be a whole number from 1, not {position!r}")
        signed = self.ids.check(request_id, user_id)
        if signed is None:
            raise Problem(422, f"request_id {request_id!r} was never served to user {user_id!r}")
        run_id, kind, k = signed
        if kind == "s":
            raise Problem(422, "feedback ties to /recommendations answers, not /similar ones")
        if position > k:
            raise Problem(
                422, f"position {position} is past the {k} items served with this request_id"
            )
        event_ts = self._event_ts(event.get("event_ts"), received)
        event_id = event.get("event_id") or uuid.uuid4().hex
        if not isinstance(event_id, str) or len(event_id) > 64:
            raise Problem(422, "event_id must be text of at most 64 characters")
        snapshot = self.publisher.find(run_id)
        reason = model_version = None
        if snapshot is not None:  # the run is still in memory: check the item against the list
            served: ServedList = snapshot.lists.get(user_id) if kind == "p" else snapshot.cold_start
            found = served.position(item_id, k) if served is not None else None
            if found is None:
                raise Problem(
                    422, f"item {item_id!r} was not in the list served with this request_id"
                )
            if found != position:
                raise Problem(
                    422, f"item {item_id!r} was served at position {found}, not {position}"
                )
            reason, model_version = served.reasons[found - 1], snapshot.model_version
        return {
            "event_id": event_id, "event_type": event_type, "request_id": request_id,
            "run_id": run_id, "model_version": model_version,
            "list": "personal" if kind == "p" else "cold_start", "user_id": user_id,
            "item_id": item_id, "position": position, "reason": reason,
            "event_ts": event_ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "received_at": received.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }  # fmt: skip

    @staticmethod
    def _event_ts(value: object, received: datetime) -> datetime:
        if value is None:
            return received
        if not isinstance(value, str):
            raise Problem(422, "event_ts must be an ISO 8601 time text")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Problem(422, f"event_ts {value!r} is not an ISO 8601 time") from None
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if parsed > received + timedelta(minutes=5):
            raise Problem(422, f"event_ts {value} is in the future")
        return parsed

    async def health(self, request: Request) -> Response:
        return _json({"status": "ok", "request_id": uuid.uuid4().hex})

    async def ready(self, request: Request) -> Response:
        snapshot = self.publisher.current
        if snapshot is None:
            return _json(
                {"ready": False, "reason": self.publisher.last_error or "loading the first run",
                 "request_id": uuid.uuid4().hex}, 503,
            )  # fmt: skip
        return _json(
            {"ready": True, "run_id": snapshot.run_id, "model_version": snapshot.model_version,
             "users": snapshot.users, "loaded_at": snapshot.loaded_at,
             "request_id": uuid.uuid4().hex},
        )  # fmt: skip

    async def metrics_text(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def app(self) -> Starlette:
        routes = [
            Route("/recommendations/{user_id:str}", self.route("recommendations", self.recommendations, guarded=True)),
            Route("/similar/{item_id:str}", self.route("similar", self.similar, guarded=True)),
            Route("/feedback", self.route("feedback", self.feedback, guarded=True), methods=["POST"]),
            Route("/health", self.route("health", self.health, guarded=False)),
            Route("/ready", self.route("ready", self.ready, guarded=False)),
            Route("/metrics", self.route("metrics", self.metrics_text, guarded=False)),
        ]  # fmt: skip

        async def no_route(request: Request, error: Exception) -> Response:
            """Unknown paths and methods answer JSON with the reason, like every other refusal."""
            status = getattr(error, "status_code", 404)
            reason = {405: f"{request.method} is not allowed on {request.url.path}"}.get(
                status,
                f"no route {request.url.path}: see /health, /ready, /metrics, /recommendations/{{user_id}}, /similar/{{item_id}}, POST /feedback",
            )
            return _json(
                {"error": reason, "status": status, "request_id": uuid.uuid4().hex}, status
            )

        return Starlette(
            routes=routes, lifespan=self.lifespan, exception_handlers={404: no_route, 405: no_route}
        )


def check_binding(host: str, api_key: str | None) -> None:
    """Refuse to open the service beyond this machine without an API key."""
    if not _is_loopback(host) and not api_key:
        raise errors.BadSetting(
            f"--host {host} opens the service beyond this machine: set an API key"
            " (--api-key or $RECSQL_API_KEY) first"
        )


def run(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM seal the open feedback segment)."""
    import uvicorn

    check_binding(host, settings.api_key)
    configure_logging()
    service = Service(settings)
    uvicorn.run(
        service.app(), host=host, port=port, log_config=None, access_log=False,
        server_header=False, timeout_graceful_shutdown=5,
    )  # fmt: skip
