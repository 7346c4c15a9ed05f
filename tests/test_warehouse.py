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


def test_a_streaming_scan_keeps_no_more_than_its_budget_cached_and_restores_the_bound(
    tmp_path, monkeypatch
) -> None:
    from recsql import warehouse

    monkeypatch.setenv("RECSQL_MEMORY_LIMIT", "3GB")
    db = tmp_path / "scan.duckdb"
    with warehouse.connect(db) as con:
        con.execute(
            "create table wide as select hash(range) as a, hash(range + 1) as b from range(4000000)"
        )
    with warehouse.connect(db) as con:
        limit = con.execute("select current_setting('memory_limit')").fetchall()
        cached = []
        with warehouse.streaming_scan(con, budget="16MB") as scan:
            reader = scan.sql("select a, b from wide where a % 2 = 0").to_arrow_reader(100_000)
            rows = 0
            for batch in reader:
                rows += batch.num_rows
                cached.append(
                    con.execute(
                        "select memory_usage_bytes from duckdb_memory() where tag = 'BASE_TABLE'"
                    ).fetchall()[0][0]
                )
        expected = con.execute("select count(*) from wide where a % 2 = 0").fetchall()[0][0]
        assert rows == expected > 1_000_000
        assert max(cached) <= 16 * 2**20  # of the table's 64 MB of blocks
        assert con.execute("select current_setting('memory_limit')").fetchall() == limit

        with pytest.raises(KeyError), warehouse.streaming_scan(con, budget="16MB") as scan:
            reader = scan.sql("select a from wide").to_arrow_reader(100_000)
            next(iter(reader))
            raise KeyError("stopped half-read")
        assert con.execute("select current_setting('memory_limit')").fetchall() == limit
