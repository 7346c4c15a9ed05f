"""The dbt-duckdb plugin: registers recsql's Python functions on dbt's DuckDB connection.

Named in profiles.yml (``module: udfs.plugin``); its optional ``model`` setting selects a
local sentence-transformers folder instead of the bundled all-MiniLM-L6-v2.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from recsql.functions import register_functions
from recsql.paths import ensure_folder_for


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.model = plugin_config.get("model") or None

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        """Runs before dbt opens the DuckDB file: a first build makes the warehouse folder."""
        ensure_folder_for(creds.path)

    def configure_connection(self, conn) -> None:
        register_functions(conn, model=self.model)
