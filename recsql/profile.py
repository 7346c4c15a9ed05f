"""The DuckDB file and memory bound that dbt's profile names, so `recsql` reads what `dbt build`
wrote even after a user edits ``profiles.yml``.

Found as dbt finds it: ``$DBT_PROFILES_DIR``, else ``./profiles.yml``, else ``~/.dbt/``; the
profile is the one ``dbt_project/dbt_project.yml`` names, the target ``$DBT_TARGET`` or the
profile's own. Values are rendered with ``env_var`` as dbt renders them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
import yaml

PROJECT_DIR = Path("dbt_project")


class ProfileError(ValueError):
    """profiles.yml exists but does not name a DuckDB file recsql can open."""


def profiles_file() -> Path | None:
    candidates = (
        [Path(os.environ["DBT_PROFILES_DIR"])] if os.environ.get("DBT_PROFILES_DIR") else []
    )
    candidates += [Path.cwd(), Path.home() / ".dbt"]
    for folder in candidates:
        if (folder / "profiles.yml").is_file():
            return folder / "profiles.yml"
    return None


def duckdb_output() -> tuple[Path, dict[str, Any]] | None:
    """(profiles.yml, the rendered output block of the active target), or None without a file."""
    file = profiles_file()
    if file is None:
        return None
    name = _profile_name()
    try:
        profiles = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        raise ProfileError(f"{file} is not valid YAML: {error}") from error
    profile = profiles.get(name)
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        return None  # a shared ~/.dbt/profiles.yml without our profile: fall back to defaults
    target = os.environ.get("DBT_TARGET") or _render(profile.get("target", "dev"), file)
    output = profile["outputs"].get(target)
    if not isinstance(output, dict):
        raise ProfileError(f"{file}: profile {name!r} has no output named {target!r}")
    rendered = _render(output, file)
    if rendered.get("type") != "duckdb":
        raise ProfileError(
            f"{file}: target {target!r} of profile {name!r} is type {rendered.get('type')!r}; recsql needs duckdb (or pass --db)"
        )
    return file, rendered


def db_path() -> Path | None:
    """The ``path`` of the active DuckDB target, or None when there is no profile to read."""
    found = duckdb_output()
    if found is None:
        return None
    file, output = found
    path = str(output.get("path", ""))
    if not path or path == ":memory:" or path.startswith(("md:", "motherduck:")):
        raise ProfileError(
            f"{file}: path {path!r} is not a DuckDB file on disk; set a file path there or pass --db"
        )
    return Path(path)


def memory_limit() -> str | None:
    """``settings.memory_limit`` of the active DuckDB target, if it sets one."""
    found = duckdb_output()
    settings = (found[1].get("settings") or {}) if found else {}
    value = settings.get("memory_limit")
    return str(value) if value else None


def _profile_name() -> str:
    project_dir = Path(os.environ.get("DBT_PROJECT_DIR", PROJECT_DIR))
    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "recsql"
    return str(project.get("profile", "recsql"))


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise ProfileError(f"profiles.yml uses env_var({name!r}) but {name} is not set")
    return default


def _render(value: Any, file: Path) -> Any:
    if isinstance(value, dict):
        return {key: _render(item, file) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, file) for item in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        return jinja2.Environment().from_string(value).render(env_var=_env_var)
    except jinja2.TemplateError as error:
        raise ProfileError(f"{file}: cannot render {value!r}: {error}") from error
