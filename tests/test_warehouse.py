"""Names from users are parsed and quoted, never pasted."""

from __future__ import annotations

import pytest

from recsql.warehouse import UnsafeName, quote


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("recommendations", '"recommendations"'),
        ("bi.recs", '"bi"."recs"'),
        ('"Weird Name"', '"Weird Name"'),
    ],
)
def test_plain_names_are_quoted(name: str, quoted: str) -> None:
    assert quote(name) == quoted


@pytest.mark.parametrize(
    "name",
    [
        "recs; drop table fct_candidates",
        'recs"; drop table x; --',
        "a b",
        "x -- comment",
        "f(1)",
        "a.b.c.d",
        "",
    ],
)
def test_anything_else_is_refused_with_the_name_in_the_message(name: str) -> None:
    with pytest.raises(UnsafeName, match="not a plain table or column name"):
        quote(name)


def test_release_cache_hands_back_the_blocks_a_scan_left_and_keeps_the_bound(
    tmp_path, monkeypatch
) -> None:
    from recsql import warehouse

    monkeypatch.setenv("RECSQL_MEMORY_LIMIT", "3GB")
    db = tmp_path / "cache.duckdb"
    with warehouse.connect(db) as con:
        con.execute(
            "create table wide as select hash(range) as a, hash(range + 1) as b from range(4000000)"
        )
    with warehouse.connect(db) as con:  # a fresh connection: nothing cached yet

        def cached() -> int:
            return con.execute(
                "select memory_usage_bytes from duckdb_memory() where tag = 'BASE_TABLE'"
            ).fetchall()[0][0]

        limit = con.execute("select current_setting('memory_limit')").fetchall()
        reader = con.sql("select a, b from wide").to_arrow_reader(100_000)
        assert sum(batch.num_rows for batch in reader) == 4_000_000
        assert cached() > 40_000_000  # the scan left the table's 64 MB of blocks behind
        warehouse.release_cache(con)
        assert cached() <= 16 * 2**20
        assert con.execute("select current_setting('memory_limit')").fetchall() == limit
