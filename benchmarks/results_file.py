"""Where the benchmarks keep their figures: one JSON list per benchmark, appended to."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def append_record(name: str, record: dict) -> None:
    """Append a record to benchmarks/results/<name>.json and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(record)
    out.write_text(json.dumps(history, indent=2) + "\n")
    print(json.dumps(record, indent=2))
