"""The CLI opens the DuckDB file dbt's profile names, and says clearly when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from recsql import paths, profile, warehouse
from recsql.cli import cli

REPO = Path(__file__).resolve().parents[1]

PROFILE = """
recsql:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{{{ env_var('SHOP_DATA') }}}}/shop.duckdb"
      settings:
        memory_limit: 2GB
    nightly:
      type: duckdb
      path: {nightly}
    memory:
      type: duckdb
      path: ":memory:"
    warehouse:
      type: postgres
      host: db
"""


@pytest.fixture
def own_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's profiles.yml in its own folder, the way dbt users keep one."""
    monkeypatch.chdir(REPO)
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "profiles.yml").write_text(PROFILE.format(nightly=tmp_path / "nightly.duckdb"))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(folder))
    monkeypatch.setenv("SHOP_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("RECSQL_DB", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    return tmp_path


def test_the_profile_path_and_memory_bound_are_used(own_profile: Path):
    assert paths.db_path() == own_profile / "data" / "shop.duckdb"
    assert warehouse.memory_limit() == "2GB"
    result = CliRunner().invoke(cli, ["summary"])
    assert result.exit_code == 1
    assert f"{own_profile / 'data' / 'shop.duckdb'} does not exist" in result.output


def test_dbt_target_picks_the_output(own_profile: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DBT_TARGET", "nightly")
    assert paths.db_path() == own_profile / "nightly.duckdb"


def test_recsql_db_wins_over_the_profile(own_profile: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RECSQL_DB", str(own_profile / "other.duckdb"))
    assert paths.db_path() == own_profile / "other.duckdb"


@pytest.mark.parametrize(
    ("target", "unset", "message"),
    [
        ("dev", "SHOP_DATA", "env_var('SHOP_DATA') but SHOP_DATA is not set"),
        ("memory", None, "':memory:' is not a DuckDB file on disk"),
        ("warehouse", None, "is type 'postgres'; recsql needs duckdb"),
        ("missing", None, "has no output named 'missing'"),
    ],
)
def test_unusable_profiles_name_the_problem(
    own_profile: Path, monkeypatch: pytest.MonkeyPatch, target: str, unset: str | None, message: str
):
    monkeypatch.setenv("DBT_TARGET", target)
    if unset:
        monkeypatch.delenv(unset)
    with pytest.raises(profile.ProfileError, match="profiles.yml"):
        paths.db_path()
    result = CliRunner().invoke(cli, ["summary"])
    assert result.exit_code == 1 and not isinstance(result.exception, profile.ProfileError)
    assert message in result.output
    # --db still works without the profile
    assert (
        CliRunner().invoke(cli, ["summary", "--db", str(own_profile / "x.duckdb")]).exit_code == 1
    )


def test_the_projects_profile_agrees_with_the_warehouse_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.delenv("RECSQL_DB", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.setenv("RECSQL_WAREHOUSE", str(tmp_path))
    monkeypatch.setenv("RECSQL_MEMORY_LIMIT", "3GB")
    assert profile.profiles_file() == REPO / "profiles.yml"
    assert paths.db_path() == tmp_path / "recsql.duckdb"
    assert warehouse.memory_limit() == "3GB"


def test_dbt_keeps_per_user_top_k_as_a_window_that_spills(new_warehouse):
    """DuckDB rewrites ``row_number() over (partition by ...) <= k`` into a top-k list per
    group in a hash table that cannot spill; the generators' per-user top-k ran out of memory
    with it at 2M events. The project's profile turns that rewrite off for dbt's connection."""
    result = new_warehouse.dbt(
        "show", "--inline", "select current_setting('disabled_optimizers') as disabled"
    )
    (row,) = result.result.results[0].agate_table.rows
    assert "top_n_window_elimination" in row["disabled"]
