-- Recent and all-time best sellers before the cutoff, proposed to every user of the snapshot
-- (cold-start users included). Two generators: popular_recent (7d, then 30d) and
-- popular_alltime (all events before the cutoff).
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

candidates as (
    select users.snapshot, users.user_id, ranked.item_id,
        'popular_recent' as generator, ranked.recent_score as score, ranked.recent_rank as generator_rank
    from users
    inner join ranked on users.snapshot = ranked.snapshot
    where ranked.recent_rank <= {{ sql_number(var('candidates_popular'), 'candidates_popular', integer=true) }}
    union all
    select users.snapshot, users.user_id, ranked.item_id,
        'popular_alltime', ranked.alltime_score, ranked.alltime_rank
    from users
    inner join ranked on users.snapshot = ranked.snapshot
    where ranked.alltime_rank <= {{ sql_number(var('candidates_popular'), 'candidates_popular', integer=true) }}
)

select * from candidates
