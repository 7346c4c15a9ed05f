"""fct_candidates built in parts of whole users (macros/user_parts.sql) is the table one
statement builds: the same rows, every user in exactly one part."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import Warehouse, copy_warehouse


def test_parts_build_the_same_table(demo_warehouse: Warehouse, tmp_path: Path) -> None:
    rows = demo_warehouse.query("select count(*) from int_candidate_sample")[0][0]
    shop = copy_warehouse(demo_warehouse, tmp_path / "parts")
    shop.dbt("run", "--select", "fct_candidates", vars={"build_part_rows": -(-rows // 3)})

    log = (shop.root / "logs" / "dbt.log").read_text()
    assert "fct_candidates: 3 parts of whole users" in log
    with duckdb.connect(str(shop.db), read_only=True) as con:
        con.execute(f"attach '{demo_warehouse.db}' as whole (read_only)")
        assert (
            con.sql("select count(*) from fct_candidates").fetchall()
            == con.sql("select count(*) from whole.fct_candidates").fetchall()
        )
        for first, second in (("main", "whole"), ("whole", "main")):
            missing = con.sql(
                f"select count(*) from (select * from {first}.fct_candidates"
                f" except all select * from {second}.fct_candidates)"
            ).fetchall()[0][0]
            assert missing == 0, f"{missing} rows of {first} not in {second}"


def compile_fresh(demo: Warehouse, root: Path, **vars: object) -> Warehouse:
    """dbt compile of fct_candidates on a new warehouse (nothing built) over the demo's files."""
    fresh = Warehouse(root, demo.cache)
    fresh.dbt("compile", "--select", "fct_candidates", vars={"raw_dir": str(demo.raw), **vars})
    return fresh


@pytest.mark.parametrize("rows", [0, 1.5, "many"])
def test_a_bad_part_size_names_the_var(demo_warehouse: Warehouse, tmp_path: Path, rows) -> None:
    with pytest.raises(AssertionError, match="build_part_rows must be"):
        compile_fresh(demo_warehouse, tmp_path, build_part_rows=rows)


def test_compiles_before_anything_is_built(demo_warehouse: Warehouse, tmp_path: Path) -> None:
    # dbt compile (or docs generate) on a new warehouse: no candidates to count yet, one part
    fresh = compile_fresh(demo_warehouse, tmp_path)
    compiled = next((fresh.root / "target" / "compiled").rglob("fct_candidates.sql")).read_text()
    assert "recsql user part" not in compiled and "int_candidate_sample" in compiled
