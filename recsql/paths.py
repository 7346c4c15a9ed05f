"""Where recsql keeps its runtime state.

Everything lives under one warehouse folder (git-ignored) so a user can delete it to
start over. ``RECSQL_WAREHOUSE`` moves the folder (tests point it at a temp dir);
``RECSQL_DB`` overrides just the DuckDB file. The file itself is the one dbt's profile names
(``recsql.profile``; the project's ``profiles.yml`` reads the same variables), so dbt, the
plugin and the CLI agree on it even after a user points the profile elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from recsql import profile


def ensure_folder_for(file: Path | str) -> Path:
    """Create the folder a file will live in (the warehouse on a first run), so DuckDB opening
    ``$RECSQL_WAREHOUSE/recsql.duckdb`` in a folder that does not exist yet makes it instead of
    failing with "IO Error: Cannot open file". In-memory and remote paths are left alone."""
    path = Path(file)
    text = str(file)
    if text and text != ":memory:" and not text.startswith(("md:", "motherduck:")):
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_dir() -> Path:
    """The runtime folder: ``$RECSQL_WAREHOUSE`` or ``./warehouse``."""
    return Path(os.environ.get("RECSQL_WAREHOUSE", "warehouse"))


def db_path() -> Path:
    """The DuckDB file dbt builds and the CLI reads: ``$RECSQL_DB``, else the dbt profile's
    ``path``, else ``<warehouse>/recsql.duckdb``."""
    explicit = os.environ.get("RECSQL_DB")
    if explicit:
        return Path(explicit)
    return profile.db_path() or warehouse_dir() / "recsql.duckdb"


def raw_dir() -> Path:
    return warehouse_dir() / "raw"


def embedding_cache_dir() -> Path:
    """Cached vectors: ``$RECSQL_CACHE`` or ``<warehouse>/cache/embeddings``.

    Kept apart from the DuckDB file so it survives a deleted file or ``--full-refresh``; the
    override lets several warehouses (tests, benchmarks) share one cache.
    """
    explicit = os.environ.get("RECSQL_CACHE")
    return Path(explicit) if explicit else warehouse_dir() / "cache" / "embeddings"


def index_dir() -> Path:
    return warehouse_dir() / "indexes"


def models_dir() -> Path:
    return warehouse_dir() / "models"


def exports_dir() -> Path:
    return warehouse_dir() / "exports"
