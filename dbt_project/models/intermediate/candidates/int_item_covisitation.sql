-- Items bought (or viewed) by the same user within one covisit_window_days bucket, before each
-- cutoff: the top covisit_neighbours per item by how many user-windows hold both. An
-- equi-join on (user, bucket), with each window capped, so it stays linear in the log.
with
events as (select snapshot, user_id, item_id, event_ts from {{ ref('int_events_before_cutoff') }}),

bucketed as (
    select
        snapshot,
        user_id,
        cast(floor({{ days_between("cast('1970-01-01' as timestamp)", 'event_ts') }} / {{ sql_number(var('covisit_window_days'), 'covisit_window_days') }}) as bigint) as bucket,
        item_id,
        max(event_ts) as last_ts
    from events
    group by snapshot, user_id, bucket, item_id
),

capped as (
    select snapshot, user_id, bucket, item_id
    from (
        select
            *,
            row_number() over (
                partition by snapshot, user_id, bucket order by last_ts desc, item_id
            ) as recency_rank
        from bucketed
    ) as ranked
    where recency_rank <= {{ sql_number(var('covisit_max_items_per_window'), 'covisit_max_items_per_window', integer=true) }}
),

pairs as (
    select
        anchor.snapshot,
        anchor.item_id,
        neighbour.item_id as neighbour_item_id,
        count(*) as weight
    from capped as anchor
    inner join capped as neighbour
        on anchor.snapshot = neighbour.snapshot
        and anchor.user_id = neighbour.user_id
        and anchor.bucket = neighbour.bucket
        and anchor.item_id <> neighbour.item_id
    group by anchor.snapshot, anchor.item_id, neighbour.item_id
),

ranked_pairs as (
    select
        *,
        weight / max(weight) over (partition by snapshot, item_id) as relative_weight,
        row_number() over (
            partition by snapshot, item_id order by weight desc, neighbour_item_id
        ) as neighbour_rank
    from pairs
),

covisitation as (
    select * from ranked_pairs where neighbour_rank <= {{ sql_number(var('covisit_neighbours'), 'covisit_neighbours', integer=true) }}
)

select * from covisitation
