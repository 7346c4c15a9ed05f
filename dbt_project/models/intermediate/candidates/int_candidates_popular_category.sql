-- Recent best sellers within each of the user's favourite categories before the cutoff,
-- scored by the user's share of that category times the item's recent popularity. When the
-- build leaves out items users already had, each category gives the user its best sellers
-- among those they never had (macro best_seller_depth).
-- users x favourite categories x best sellers is the widest table here: it is built and ranked
-- on integer keys (macro id_keys), and text ids come back only for the kept rows. At 2M events
-- that takes half the time and memory of the same query on text ids.
{%- set top = sql_number(var('candidates_popular_category'), 'candidates_popular_category', integer=true) %}
with
user_keys as ({{ id_keys('select snapshot, user_id from ' ~ ref('int_snapshot_users'), 'snapshot, user_id', 'user_key') }}),
popularity as (select * from {{ ref('int_item_popularity') }}),
items as (select item_id, category from {{ ref('int_item_categories') }}),

item_keys as ({{ id_keys('select distinct item_id from popularity', 'item_id', 'item_key') }}),
category_keys as ({{ id_keys('select distinct category from items', 'category', 'category_key') }}),
snapshot_keys as ({{ id_keys('select distinct snapshot from user_keys', 'snapshot', 'snapshot_key') }}),

affinity as (
    select
        snapshot_keys.snapshot_key,
        user_keys.user_key,
        category_keys.category_key,
        favourite.share
    from {{ ref('int_user_category_affinity') }} as favourite
    inner join user_keys
        on favourite.snapshot = user_keys.snapshot and favourite.user_id = user_keys.user_id
    inner join snapshot_keys on favourite.snapshot = snapshot_keys.snapshot
    inner join category_keys on favourite.category = category_keys.category
    where favourite.category_rank <= {{ sql_number(var('favourite_categories'), 'favourite_categories', integer=true) }}
),

ranked_in_category as (
    select
        snapshot_keys.snapshot_key,
        category_keys.category_key,
        item_keys.item_key,
        popularity.events_7d + popularity.events_30d / 30e0 as recent_score,  -- e0: a double on every engine
        row_number() over (
            partition by popularity.snapshot, items.category
            order by popularity.events_7d desc, popularity.events_30d desc, popularity.item_id
        ) as category_rank
    from popularity
    inner join items on popularity.item_id = items.item_id
    inner join item_keys on popularity.item_id = item_keys.item_id
    inner join category_keys on items.category = category_keys.category
    inner join snapshot_keys on popularity.snapshot = snapshot_keys.snapshot
),

best_sellers as (
    select * from ranked_in_category where category_rank <= {{ best_seller_depth(top) }}
),

seen as ({{ seen_item_keys('user_keys', 'item_keys') }}),

pool as (
    select
        affinity.user_key,
        affinity.category_key,
        affinity.share,
        best_sellers.item_key,
        best_sellers.recent_score,
        best_sellers.category_rank
    from affinity
    inner join best_sellers
        on affinity.snapshot_key = best_sellers.snapshot_key
        and affinity.category_key = best_sellers.category_key
    left join seen on affinity.user_key = seen.user_key and best_sellers.item_key = seen.item_key
    where seen.item_key is null
),

kept as (
    select * from (
        select
            *,
            row_number() over (
                partition by user_key, category_key order by category_rank
            ) as rank_for_user
        from pool
    ) as numbered
    where rank_for_user <= {{ top }}
),

scored as (
    select user_key, item_key, max(share * ln(1 + recent_score)) as score
    from kept
    group by user_key, item_key  -- an item in two liked categories
),

ranked as (
    select
        user_key,
        item_key,
        score,
        row_number() over (partition by user_key order by score desc, item_key) as generator_rank
    from scored
),

candidates as (
    select
        user_keys.snapshot,
        user_keys.user_id,
        item_keys.item_id,
        'popular_category' as generator,
        ranked.score,
        ranked.generator_rank
    from ranked
    inner join user_keys on ranked.user_key = user_keys.user_key
    inner join item_keys on ranked.item_key = item_keys.item_key
)

select * from candidates
