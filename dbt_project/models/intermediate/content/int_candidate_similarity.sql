-- How close each candidate's text is to the user: cosine to their profile vector and the max
-- and mean cosine to their last sim_recent_items items (all vectors are unit length, so the
-- inner product is the cosine), plus the title of the closest recent item, for reasons.
-- One row per snapshot, user and candidate item.
with
candidates as (select snapshot, user_id, item_id from {{ ref('int_candidates') }}),
embeddings as (select item_id, embedding from {{ ref('int_item_embeddings') }}),
profiles as (select * from {{ ref('int_user_profiles') }}),
recent as (
    select * from {{ ref('int_user_recent_items') }}
    where recency_rank <= {{ var('sim_recent_items') }}
),
items as (select item_id, title from {{ ref('int_items_clean') }}),

candidate_vectors as (
    select candidates.*, embeddings.embedding
    from candidates
    inner join embeddings on candidates.item_id = embeddings.item_id
),

to_recent as (
    select
        candidate_vectors.snapshot,
        candidate_vectors.user_id,
        candidate_vectors.item_id,
        recent.item_id as recent_item_id,
        array_inner_product(candidate_vectors.embedding, recent_vectors.embedding) as similarity
    from candidate_vectors
    inner join recent
        on candidate_vectors.snapshot = recent.snapshot
        and candidate_vectors.user_id = recent.user_id
        and candidate_vectors.item_id <> recent.item_id
    inner join embeddings as recent_vectors on recent.item_id = recent_vectors.item_id
),

recent_summary as (
    select
        snapshot,
        user_id,
        item_id,
        max(similarity) as sim_recent_max,
        avg(similarity) as sim_recent_mean,
        arg_max(recent_item_id, similarity) as similar_to_item_id
    from to_recent
    group by snapshot, user_id, item_id
),

similarity as (
    select
        candidate_vectors.snapshot,
        candidate_vectors.user_id,
        candidate_vectors.item_id,
        cast(array_inner_product(candidate_vectors.embedding, profiles.profile) as double) as sim_profile,
        cast(recent_summary.sim_recent_max as double) as sim_recent_max,
        cast(recent_summary.sim_recent_mean as double) as sim_recent_mean,
        items.title as similar_to_title
    from candidate_vectors
    left join profiles
        on candidate_vectors.snapshot = profiles.snapshot
        and candidate_vectors.user_id = profiles.user_id
    left join recent_summary
        on candidate_vectors.snapshot = recent_summary.snapshot
        and candidate_vectors.user_id = recent_summary.user_id
        and candidate_vectors.item_id = recent_summary.item_id
    left join items on recent_summary.similar_to_item_id = items.item_id
)

select * from similarity
