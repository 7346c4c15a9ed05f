-- The rows EASE learns from, as integer coordinates: per snapshot, the ease_max_items items
-- with the most users before the cutoff (item_row 0..n-1) and every user with history
-- (user_row), flagged when the snapshot ranks them. in_profile rows (int_user_item_sets) are
-- the matrix EASE solves on and scores with; when the build leaves out items users already
-- had (int_seen_policy), a ranked user's older items come too, only so that none of them takes
-- one of the user's candidates_ease slots. int_candidates_ease solves on these.
{%- set profile_items = sql_number(var('collaborative_history_items'), 'collaborative_history_items', integer=true) %}
with
history as (select snapshot, user_id, item_id, recency_rank from {{ ref('int_user_item_history') }}),
ranked_users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
policy as (select exclude_seen from {{ ref('int_seen_policy') }}),

user_items as (select snapshot, user_id, item_id from {{ ref('int_user_item_sets') }}),

item_users as (
    select
        snapshot,
        item_id,
        row_number() over (partition by snapshot order by count(*) desc, item_id) - 1 as item_row
    from user_items
    group by snapshot, item_id
),

kept_items as (
    select * from item_users where item_row < {{ sql_number(var('ease_max_items'), 'ease_max_items', integer=true) }}
),

user_rows as (
    select
        user_items.snapshot,
        user_items.user_id,
        dense_rank() over (partition by user_items.snapshot order by user_items.user_id) - 1 as user_row
    from user_items
    group by user_items.snapshot, user_items.user_id
),

coordinates as (
    select
        history.snapshot,
        user_rows.user_row,
        kept_items.item_row,
        history.user_id,
        history.item_id,
        ranked_users.user_id is not null as is_ranked_user,
        history.recency_rank <= {{ profile_items }} as in_profile
    from history
    inner join kept_items
        on history.snapshot = kept_items.snapshot and history.item_id = kept_items.item_id
    inner join user_rows
        on history.snapshot = user_rows.snapshot and history.user_id = user_rows.user_id
    left join ranked_users
        on history.snapshot = ranked_users.snapshot and history.user_id = ranked_users.user_id
    cross join policy
    where history.recency_rank <= {{ profile_items }}
        or (policy.exclude_seen and ranked_users.user_id is not null)
)

select * from coordinates
