"""recsql report: the page renders for the demo warehouse, opens in a real headless Chromium
without console errors or network requests, and every plot is drawn at its size.

The browser is driven over the Chrome DevTools Protocol with a small WebSocket client (stdlib
only): console messages, exceptions and requests are events, sizes come from the live layout,
the screenshot from the browser itself. Skipped only when no Chromium binary is installed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from recsql.cli import cli
from tests.conftest import REPO, copy_warehouse

PLOTS = {
    "feature_drift",
    "quarantine_rate",
    "methods_vs_baselines",
    "candidate_recall",
    "feature_importance",
    "contributions",
    "scores_and_first_hit",
    "coverage_novelty",
    "segments",
    "model_trend",
}
WINDOW = (1280, 900)


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def report(trained_warehouse, tmp_path_factory) -> Path:
    """The demo warehouse, trained and scored, and its report written by `recsql report`."""
    from recsql.scoring import score_serve_snapshot

    warehouse = copy_warehouse(trained_warehouse, tmp_path_factory.mktemp("report-warehouse"))
    with warehouse.env():
        score_serve_snapshot(warehouse.db, top_k=20)
        result = CliRunner().invoke(cli, ["report", "--db", str(warehouse.db)])
    assert result.exit_code == 0, result.output
    page = warehouse.root / "report.html"  # the default: $RECSQL_WAREHOUSE/report.html
    assert f"report -> {page}" in result.output
    return page


def test_a_warehouse_without_a_model_is_one_line(demo_warehouse, tmp_path: Path) -> None:
    with demo_warehouse.env():
        result = CliRunner().invoke(
            cli, ["report", "--db", str(demo_warehouse.db), "--out", str(tmp_path / "r.html")]
        )
    assert result.exit_code == 1
    assert "no model is registered yet: run `recsql train` first" in result.output
    assert not (tmp_path / "r.html").exists()


def test_the_report_is_one_file_with_every_plot_inline(report: Path) -> None:
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    drawn = set(re.findall(r'<figure data-plot="([a-z_]+)"', text))
    assert drawn == PLOTS
    assert text.count("<svg ") == len(PLOTS)
    # nothing to fetch: no external script, style, image or font (SVG namespaces are names)
    assert not re.search(r'(src|href)="(?!#)', text)
    assert "@import" not in text and "url(http" not in text
    assert "<script src" not in text and '<link rel="stylesheet"' not in text


def test_the_report_opens_in_chromium_with_every_plot_drawn(report: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("RECSQL_REQUIRE_BROWSER"):  # CI installed it: a missing one is a failure
            pytest.fail("RECSQL_REQUIRE_BROWSER is set but no chromium binary is on PATH")
        pytest.skip("no chromium binary on PATH (apt-get install chromium): browser test skipped")
    screenshot = report.parent / "report-screenshot.png"
    with Browser(binary, report.parent / "chromium-profile") as browser:
        browser.open(report.resolve().as_uri())
        state = browser.evaluate(
            """(() => ({
                ready: document.readyState,
                title: document.title,
                plots: Array.from(document.querySelectorAll("figure[data-plot]")).map(figure => {
                    const svg = figure.querySelector("svg");
                    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                    return {
                        name: figure.dataset.plot,
                        expected: [Number(figure.dataset.width), Number(figure.dataset.height)],
                        drawn: [box.width, box.height],
                        shapes: svg ? svg.querySelectorAll("path, rect, text, use").length : 0,
                    };
                }),
                passed: document.querySelectorAll("table.checks tr.pass").length,
            }))()"""
        )
        hidden = browser.evaluate(
            """(() => { document.getElementById("toggle-passed").click();
                return document.querySelectorAll("table.checks tr.pass.hidden").length; })()"""
        )
        browser.screenshot(screenshot)
        browser.settle()
    assert state["ready"] == "complete" and state["title"].startswith("recsql report")
    assert browser.errors == [], browser.errors
    assert set(browser.requests) <= {report.resolve().as_uri()}, browser.requests  # no fetches
    assert {plot["name"] for plot in state["plots"]} == PLOTS
    for plot in state["plots"]:
        (width, height), (drawn_width, drawn_height) = plot["expected"], plot["drawn"]
        assert width > 300 and height > 150, plot
        assert abs(drawn_width - width) <= 1 and abs(drawn_height - height) <= 1, plot
        assert plot["shapes"] > 20, plot
    assert hidden == state["passed"] > 0  # the inline script works: passed checks fold away
    assert screenshot.stat().st_size > 50_000
    keep = REPO / "warehouse" / "report-test"  # for people to look at (git-ignored)
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, keep / "report-screenshot.png")
    shutil.copy(report, keep / "report.html")


class Browser:
    """Headless Chromium with one page, driven over the DevTools Protocol."""

    def __init__(self, binary: str, profile: Path) -> None:
        shutil.rmtree(profile, ignore_errors=True)
        profile.mkdir(parents=True)
        self.profile = profile
        self.process = subprocess.Popen(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--hide-scrollbars", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.socket: WebSocket | None = None
        self.loaded = False

    def __enter__(self) -> Browser:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [target for target in json.load(answer) if target["type"] == "page"]
        self.socket = WebSocket(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.socket:
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    _next_id = 0

    def call(self, method: str, **params: Any) -> dict:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.receive())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]
            self._event(message)

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))  # fmt: skip
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self.loaded = True

    def open(self, url: str) -> None:
        self.loaded = False
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while not self.loaded:
            assert time.monotonic() < deadline, "the page did not finish loading"
            self._event(json.loads(self.socket.receive()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(result["exceptionDetails"])
        return result["result"]["value"]

    def screenshot(self, target: Path) -> None:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WINDOW[0], "height": size["height"], "scale": 1},
        )  # fmt: skip
        target.write_bytes(base64.b64decode(shot["data"]))

    def settle(self) -> None:
        """Let late console messages (a script error after load) arrive before judging."""
        self.call(
            "Runtime.evaluate",
            expression="new Promise(resolve => setTimeout(resolve, 300))",
            awaitPromise=True,
        )


class WebSocket:
    """Just enough of RFC 6455 for the DevTools Protocol: text frames, masked when sent."""

    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        self.connection = socket.create_connection((parts.hostname, parts.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.connection.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.connection.recv(1)
        assert b" 101 " in response.split(b"\r\n", 1)[0], response

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.connection.sendall(header + mask + masked)

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode in (0x1, 0x0):
                message += payload
                if first & 0x80:
                    return message.decode()
            elif opcode == 0x8:
                raise AssertionError("chromium closed the DevTools connection")

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.connection.recv(size - len(data))
            if not chunk:
                raise AssertionError("the DevTools connection ended")
            data += chunk
        return data

    def close(self) -> None:
        self.connection.close()
