"""How close each candidate's text is to its user, as of the snapshot's cutoff.

sim_profile: cosine to the user's profile vector; sim_recent_max / sim_recent_mean: max and
mean cosine to their last sim_recent_items items (the item itself excluded); and which of those
is closest (similar_to_item_id, for reasons). Vectors are unit length, so cosine is an inner
product: one small matrix product per user, after a single gather of the candidate vectors.
One row per snapshot, user and candidate item, with int_candidates' candidate_id.

Users stream through in batches (``USERS_PER_BATCH``): the model returns a record batch reader
that DuckDB writes from as it goes, so neither the inputs nor the output (tens of millions of
rows at 2M events) are ever held whole in Python beside DuckDB's own memory.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

USERS_PER_BATCH = 2000  # (snapshot, user) rows of the inputs per batch: ~400k candidates

SCHEMA = pa.schema(
    [
        ("snapshot", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("candidate_id", pa.int64()),
        ("sim_profile", pa.float64()),
        ("sim_recent_max", pa.float64()),
        ("sim_recent_mean", pa.float64()),
        ("similar_to_item_id", pa.string()),
    ]
)


def vector_matrix(relation, column):
    table = relation.to_arrow_table()
    flat = table.column(column).combine_chunks().flatten().to_numpy()
    return np.asarray(flat, dtype=np.float32).reshape(table.num_rows, -1)


def model(dbt, session):
    dbt.config(materialized="table")
    items = vector_matrix(dbt.ref("int_item_embeddings").order("item_row"), "embedding")
    profiles = vector_matrix(dbt.ref("int_user_profiles").order("snapshot, user_id"), "profile")
    reader = dbt.ref("int_candidate_similarity_inputs").to_arrow_reader(USERS_PER_BATCH)
    batches = (
        similarities(pa.Table.from_batches([batch]), items, profiles)
        for batch in reader
        if batch.num_rows
    )
    return pa.RecordBatchReader.from_batches(SCHEMA, batches)


def similarities(inputs, items, profiles):
    """The output rows (a record batch of SCHEMA) of one batch of inputs."""
    item_rows = inputs.column("item_rows").combine_chunks()
    item_offsets = item_rows.offsets.to_numpy()
    item_offsets = item_offsets - item_offsets[0]  # a batch may be a slice: offsets from 0
    # each user's candidates in item order (item_row follows item_id), whichever order the
    # inputs' unordered list gathered them in: the same products, so the same rows bit for bit
    owner = np.repeat(np.arange(inputs.num_rows), np.diff(item_offsets))
    gathered = item_rows.flatten().to_numpy()
    order = np.lexsort((gathered, owner))
    item_index = gathered[order]
    recent_rows = inputs.column("recent_rows").combine_chunks()
    recent_ids = inputs.column("recent_item_ids").combine_chunks()
    profile_rows = inputs.column("profile_row").combine_chunks()
    first_recent = recent_ids.offsets[0].as_py()

    total = len(item_index)
    sim_profile = np.full(total, np.nan, dtype=np.float32)
    sim_max = np.full(total, np.nan, dtype=np.float32)
    sim_mean = np.full(total, np.nan, dtype=np.float32)
    closest = np.full(total, -1, dtype=np.int64)  # position within the user's recent list
    recent_offset = np.zeros(total, dtype=np.int64)  # where the user's recent list starts

    for user in range(inputs.num_rows):
        start, stop = item_offsets[user], item_offsets[user + 1]
        vectors = items[item_index[start:stop]]
        if profile_rows[user].is_valid:
            sim_profile[start:stop] = vectors @ profiles[profile_rows[user].as_py()]
        if not recent_rows[user].is_valid:
            continue
        recent = recent_rows[user].values.to_numpy()
        if not len(recent):
            continue
        similarity = vectors @ items[recent].T
        similarity[item_index[start:stop, None] == recent[None, :]] = np.nan  # not itself
        seen = ~np.isnan(similarity).all(axis=1)
        if not seen.any():
            continue
        rows = np.arange(start, stop)[seen]
        similarity = similarity[seen]
        sim_max[rows] = np.nanmax(similarity, axis=1)
        sim_mean[rows] = np.nanmean(similarity, axis=1)
        closest[rows] = np.nanargmax(similarity, axis=1)
        recent_offset[rows] = recent_ids.offsets[user].as_py() - first_recent

    all_recent_ids = recent_ids.flatten()
    has_closest = closest >= 0
    if len(all_recent_ids):
        picked = all_recent_ids.take(pa.array(np.where(has_closest, recent_offset + closest, 0)))
    else:
        picked = pa.nulls(total, pa.string())
    similar_to_item_id = pc.if_else(pa.array(has_closest), picked, pa.scalar(None, pa.string()))
    table = pa.table(
        {
            "snapshot": inputs.column("snapshot").take(owner),
            "user_id": inputs.column("user_id").take(owner),
            "item_id": inputs.column("item_ids").combine_chunks().flatten().take(order),
            "candidate_id": inputs.column("candidate_ids").combine_chunks().flatten().take(order),
            "sim_profile": pa.array(sim_profile, from_pandas=True).cast(pa.float64()),
            "sim_recent_max": pa.array(sim_max, from_pandas=True).cast(pa.float64()),
            "sim_recent_mean": pa.array(sim_mean, from_pandas=True).cast(pa.float64()),
            "similar_to_item_id": similar_to_item_id,
        }
    )
    return table.cast(SCHEMA).combine_chunks().to_batches()[0]
