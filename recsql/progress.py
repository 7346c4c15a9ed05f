"""Progress bars that suit where they are shown: live in a terminal, one line every 30 s in a log
file or CI output (tqdm's default 0.1 s would write thousands of lines there)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

LOG_INTERVAL_SECONDS = 30.0


def bar(**options: Any) -> tqdm:
    if not sys.stderr.isatty():
        options.setdefault("mininterval", LOG_INTERVAL_SECONDS)
    return tqdm(**options)


def note(text: str, show: bool = True) -> None:
    """A one-line status for a long step that has no count to show (reading, evaluating)."""
    if show:
        print(f"recsql: {text}", file=sys.stderr, flush=True)
