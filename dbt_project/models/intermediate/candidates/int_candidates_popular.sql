-- Recent and all-time best sellers before the cutoff, proposed to every user of the snapshot
-- (cold-start users included). Two generators: popular_recent (7d, then 30d) and
-- popular_alltime (all events before the cutoff). When the build leaves out items users
-- already had, each user gets their best sellers among those they never had (macro
-- best_seller_depth), ranked for them.
{%- set top = sql_number(var('candidates_popular'), 'candidates_popular', integer=true) %}
with
users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
popularity as (select * from {{ ref('int_item_popularity') }}),

ranked as (
    select
        snapshot,
        item_id,
        events_7d + events_30d / 30e0 as recent_score,  -- e0: a double on every engine (Spark: 30.0 is a decimal)
        row_number() over (
            partition by snapshot order by events_7d desc, events_30d desc, item_id
        ) as recent_rank,
        cast(events_total as double) as alltime_score,
        row_number() over (
            partition by snapshot order by events_total desc, item_id
        ) as alltime_rank
    from popularity
),

pool as (
    select users.snapshot, users.user_id, ranked.item_id,
        ranked.recent_score, ranked.recent_rank, ranked.alltime_score, ranked.alltime_rank
    from users
    inner join ranked on users.snapshot = ranked.snapshot
    where least(ranked.recent_rank, ranked.alltime_rank) <= {{ best_seller_depth(top) }}
),

unseen as ({{ without_seen_items('pool') }}),

ranked_for_user as (
    select
        *,
        row_number() over (partition by snapshot, user_id order by recent_rank) as user_recent_rank,
        row_number() over (partition by snapshot, user_id order by alltime_rank) as user_alltime_rank
    from unseen
),

candidates as (
    select snapshot, user_id, item_id,
        'popular_recent' as generator, recent_score as score, user_recent_rank as generator_rank
    from ranked_for_user
    where user_recent_rank <= {{ top }}
    union all
    select snapshot, user_id, item_id,
        'popular_alltime', alltime_score, user_alltime_rank
    from ranked_for_user
    where user_alltime_rank <= {{ top }}
)

select * from candidates
