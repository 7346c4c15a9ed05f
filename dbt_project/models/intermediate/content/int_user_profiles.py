"""Each user's taste as one vector per snapshot: the recency-weighted mean of the vectors of
the items they had before the cutoff, L2-normalised (so cosine = inner product).

One sparse (users x items) by (items x 384) product instead of a per-user loop. Users with no
history before the cutoff get no row (their candidates come from popularity).
"""

import numpy as np
import pyarrow as pa
from scipy import sparse


def model(dbt, session):
    dbt.config(materialized="table")
    weights = dbt.ref("int_user_profile_weights").to_arrow_table()
    embeddings = dbt.ref("int_item_embeddings").order("item_row").to_arrow_table()

    vectors = embeddings.column("embedding").combine_chunks().flatten().to_numpy()
    vectors = np.asarray(vectors, dtype=np.float32).reshape(embeddings.num_rows, -1)
    rows = weights.column("profile_row").to_numpy()
    profile_count = int(rows.max()) + 1 if len(rows) else 0
    mixing = sparse.csr_matrix(
        (
            weights.column("weight").to_numpy().astype(np.float32),
            (rows, weights.column("item_row").to_numpy()),
        ),
        shape=(profile_count, embeddings.num_rows),
    )
    profiles = np.asarray(mixing @ vectors, dtype=np.float32)
    norms = np.linalg.norm(profiles, axis=1, keepdims=True)
    profiles /= np.where(norms > 0, norms, 1.0)

    # one (snapshot, user_id) per profile_row, in profile_row order
    keys = (
        dbt.ref("int_user_profile_weights")
        .aggregate("profile_row, any_value(snapshot) as snapshot, any_value(user_id) as user_id")
        .order("profile_row")
        .to_arrow_table()
    )
    dimension = vectors.shape[1]
    profile_column = pa.FixedSizeListArray.from_arrays(pa.array(profiles.ravel()), dimension)
    return pa.table(
        {
            "snapshot": keys.column("snapshot"),
            "user_id": keys.column("user_id"),
            "profile": profile_column,
        }
    )
