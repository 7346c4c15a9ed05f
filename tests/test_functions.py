"""The Python functions from SQL, on a plain DuckDB connection (as a user's own session)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from recsql import embeddings
from recsql.ann import ItemIndex, exact_neighbours
from recsql.functions import register_functions

CATALOG = [
    "Alpenhof Greek Yoghurt 500g",
    "Nordvale Natural Yogurt 1kg",
    "Sunfarm Skyr Vanilla",
    "Oakmill Sourdough Loaf",
    "Greenleaf Rye Bread Seeded",
    "Riverbay Dog Food Chicken",
    "Happyglen Cat Food Salmon",
    "Goldenbrook Dark Roast Coffee Beans",
    "Silvercrest Decaf Ground Coffee",
    "Wildwood Green Tea Mint",
]


@pytest.fixture
def con(tmp_path, monkeypatch, embedding_cache):
    monkeypatch.setenv("RECSQL_WAREHOUSE", str(tmp_path))
    monkeypatch.setenv("RECSQL_CACHE", str(embedding_cache))
    connection = duckdb.connect()
    register_functions(connection)
    yield connection
    connection.close()


def test_recsql_embed_returns_the_cached_unit_vectors(con) -> None:
    rows = con.execute(
        "select typeof(recsql_embed(t)), recsql_embed(t) from (values (?), (null)) as v(t)",
        [CATALOG[0]],
    ).fetchall()
    assert rows[0][0] == "FLOAT[384]" and rows[1][1] is None
    vector = np.array(rows[0][1], dtype=np.float32)
    np.testing.assert_allclose(vector, embeddings.embed_texts([CATALOG[0]])[0], atol=1e-6)


def test_recsql_clean_text_applies_nfkc_and_whitespace(con) -> None:
    assert con.execute(
        "select recsql_clean_text(?)", ["  Ｓｋｙｒ\u3000Vanilla\u00a0"]
    ).fetchall() == [("Skyr Vanilla",)]


def test_nearest_items_from_sql_match_exact_search_on_sentence_vectors(con) -> None:
    ids = [f"sku-{i}" for i in range(len(CATALOG))]
    vectors = embeddings.embed_texts(CATALOG)
    ItemIndex.build_or_load("items", ids, vectors)
    rows = con.execute(
        "select t, recsql_nearest_items(recsql_embed(t), 3, 'items') from (values (?), (?)) as v(t)",
        ["greek yoghurt", "coffee"],
    ).fetchall()
    queries = embeddings.embed_texts(["greek yoghurt", "coffee"])
    labels, sims = exact_neighbours(vectors, queries, 3)
    for (_, found), expected, expected_sims in zip(rows, labels, sims, strict=True):
        assert [n["item_id"] for n in found] == [ids[i] for i in expected]
        np.testing.assert_allclose([n["similarity"] for n in found], expected_sims, atol=1e-4)
    assert rows[0][1][0]["item_id"] in {"sku-0", "sku-1", "sku-2"}  # a yoghurt, not dog food


def test_nearest_items_without_an_index_says_how_to_build_one(con) -> None:
    with pytest.raises(duckdb.Error, match="build int_item_neighbours first"):
        con.execute("select recsql_nearest_items(recsql_embed('x'), 3, 'items')").fetchall()


def test_nearest_items_keep_row_order_nulls_and_mixed_k_in_one_chunk(con) -> None:
    ids = [f"sku-{i}" for i in range(len(CATALOG))]
    vectors = embeddings.embed_texts(CATALOG)
    ItemIndex.build_or_load("items", ids, vectors)
    rows = con.execute(
        """
        select n, recsql_nearest_items(recsql_embed(t), k, 'items') as found
        from (values (1, ?, 2), (2, null, 3), (3, ?, 50), (4, ?, null), (5, ?, 1)) as v(n, t, k)
        order by n
        """,
        [CATALOG[3], CATALOG[7], CATALOG[0], CATALOG[5]],
    ).fetchall()
    found = {n: None if hits is None else [hit["item_id"] for hit in hits] for n, hits in rows}
    assert found[1][0] == "sku-3" and len(found[1]) == 2
    assert found[2] is None and found[4] is None  # null vector or null k: null, not an error
    assert found[3][0] == "sku-7" and sorted(found[3]) == sorted(ids)  # k clamped to the catalog
    assert found[5] == ["sku-5"]
