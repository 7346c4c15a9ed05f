"""Progress bars write sparsely when nobody watches a terminal (CI logs, cron, nohup)."""

import io
import sys

from recsql import progress


def test_log_output_gets_one_line_per_interval(monkeypatch):
    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    with progress.bar(total=10_000, file=log) as bar:
        for _ in range(10_000):
            bar.update(1)
    lines = [line for line in log.getvalue().replace("\r", "\n").splitlines() if line.strip()]
    assert bar.mininterval == progress.LOG_INTERVAL_SECONDS
    assert len(lines) <= 3, lines  # the first draw and the final one, not thousands


def test_terminal_keeps_live_updates(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    with progress.bar(total=1, file=io.StringIO()) as bar:
        assert bar.mininterval < 1
