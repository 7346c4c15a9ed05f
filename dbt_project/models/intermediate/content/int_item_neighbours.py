"""Each item's nearest items by text: cosine over the sentence vectors, searched with hnswlib.

A Python model rather than a SQL function: it needs every vector at once to build (or, when
the vectors have not changed, load) the persisted index under warehouse/indexes/items, which
recsql_nearest_items then serves to SQL. One row per item and neighbour.
"""

import numpy as np

from recsql import ann

INDEX_NAME = "items"


def model(dbt, session):
    dbt.config(materialized="table")
    embeddings = dbt.ref("int_item_embeddings").to_arrow_table()
    item_ids = embeddings.column("item_id").to_pylist()
    flat = embeddings.column("embedding").combine_chunks().flatten()
    vectors = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32)
    vectors = vectors.reshape(len(item_ids), -1)
    index = ann.ItemIndex.build_or_load(
        INDEX_NAME,
        item_ids,
        vectors,
        M=int(dbt.config.get("hnsw_m")),
        ef_construction=int(dbt.config.get("hnsw_ef_construction")),
        ef=int(dbt.config.get("hnsw_ef")),
    )
    return index.neighbours_of_items(int(dbt.config.get("neighbours")))
