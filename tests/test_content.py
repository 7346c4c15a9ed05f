"""Vectors, neighbours and profiles inside a real dbt build of the demo shop."""

from __future__ import annotations

import shutil

import numpy as np

from recsql import embeddings
from recsql.ann import exact_neighbours
from tests.conftest import Warehouse, copy_warehouse


def vectors_of(
    warehouse: Warehouse, table: str, column: str, order: str
) -> tuple[list, np.ndarray]:
    rows = warehouse.query(f"select {order}, {column} from {table} order by {order}")
    return [row[0] for row in rows], np.array([row[1] for row in rows], dtype=np.float32)


def test_a_second_build_encodes_no_text_even_without_the_database_file(
    demo_warehouse, tmp_path
) -> None:
    copy = copy_warehouse(demo_warehouse, tmp_path)
    shutil.copytree(demo_warehouse.raw, copy.raw)
    copy.db.unlink()  # the cache lives outside the DuckDB file
    with copy.env():
        cache = embeddings.default_cache()
    encoded, hits = cache.encoded, cache.hits
    copy.build(select="+int_item_embeddings")
    copy.dbt("run", "--select", "int_item_embeddings", "--full-refresh")
    items = copy.query("select count(*) from int_item_embeddings")[0][0]
    assert cache.encoded == encoded, "a rebuild encoded texts the cache already had"
    assert (
        cache.hits - hits
        >= 2 * copy.query("select count(distinct embedding_text) from int_item_embeddings")[0][0]
    )
    assert items == copy.query("select count(*) from int_items_clean")[0][0]
    model = copy.query("select distinct model_id from int_item_embeddings")
    assert model == [(embeddings.DEFAULT_MODEL_ID,)]


def test_similar_items_match_exact_cosine_search(demo_warehouse) -> None:
    ids, vectors = vectors_of(demo_warehouse, "int_item_embeddings", "embedding", "item_id")
    labels, _ = exact_neighbours(vectors, vectors, 11)
    exact = {
        (ids[i], ids[j]) for i, row in enumerate(labels) for j in [x for x in row if x != i][:10]
    }
    rows = demo_warehouse.query(
        "select item_id, neighbour_item_id, rank, similarity from similar_items"
    )
    found = {(a, b) for a, b, rank, _ in rows if rank <= 10}
    assert len(found) == 10 * len(ids)
    assert len(found & exact) / len(exact) >= 0.98
    by_pair = {(a, b): s for a, b, _, s in rows}
    for i in range(0, len(ids), 50):  # the similarity is the cosine
        j = [x for x in labels[i] if x != i][0]
        assert abs(by_pair[(ids[i], ids[j])] - float(vectors[i] @ vectors[j])) < 1e-4


def test_similar_items_share_category_more_often_than_chance(demo_warehouse) -> None:
    same, chance = demo_warehouse.query(
        """
        select
            avg(case when neighbour_category = items.category then 1.0 else 0.0 end),
            (select sum(share * share) from (
                select count(*) / sum(count(*)) over () as share from int_items_clean group by category))
        from similar_items inner join int_items_clean as items on similar_items.item_id = items.item_id
        where rank = 1
        """
    )[0]
    assert same > 3 * chance, (same, chance)


def test_a_profile_is_the_normalised_recency_weighted_mean_of_item_vectors(demo_warehouse) -> None:
    (snapshot, user), *_ = demo_warehouse.query(
        "select snapshot, user_id from int_user_profile_weights group by all having count(*) >= 3 order by all limit 1"
    )
    weights = demo_warehouse.query(
        "select weights.weight, embeddings.embedding from int_user_profile_weights as weights"
        " inner join int_item_embeddings as embeddings on weights.item_id = embeddings.item_id"
        " where weights.snapshot = ? and weights.user_id = ?",
        [snapshot, user],
    )
    mean = sum(w * np.array(v, dtype=np.float64) for w, v in weights)
    expected = mean / np.linalg.norm(mean)
    (profile,) = demo_warehouse.query(
        "select profile from int_user_profiles where snapshot = ? and user_id = ?", [snapshot, user]
    )[0]
    np.testing.assert_allclose(np.array(profile), expected, atol=1e-5)
