-- One row per kept event. A purchase later returned stays, with the time it was cancelled:
-- features as of a cutoff before the return must still see it (the return is future news
-- then); features after it, and labels, drop it (see macro visible_at).
{%- set prefix = var('cancelled_order_prefix') or '' %}
with
triaged as (select * from {{ ref('int_interactions_triaged') }}),
kept as (select * from triaged where reason is null),
returns as (select * from triaged where reason = 'return'),

-- each return cancels one earlier event of the same user and item: the one with its order id
-- (minus the cancel prefix) when both have ids, else the latest one before the return
matches as (
    select
        returns.raw_row_id as return_row_id,
        kept.raw_row_id,
        abs(returns.quantity) as returned_quantity,
        returns.event_ts as returned_ts,
        row_number() over (
            partition by returns.raw_row_id
            order by
                (kept.order_id is not null and returns.order_id is not null) desc,
                kept.event_ts desc,
                kept.raw_row_id desc
        ) as preference
    from returns
    inner join kept
        on returns.user_id = kept.user_id
        and returns.item_id = kept.item_id
        and kept.event_ts <= returns.event_ts
        and (
            returns.order_id is null
            or kept.order_id is null
            or returns.order_id = kept.order_id
            or returns.order_id = '{{ prefix }}' || kept.order_id
        )
),

-- a purchase is cancelled from the moment its returns add up to its quantity (not at its
-- last return: a later, extra return must not move that moment into the future)
running as (
    select
        matches.raw_row_id,
        matches.returned_quantity,
        matches.returned_ts,
        sum(matches.returned_quantity) over (
            partition by matches.raw_row_id
            order by matches.returned_ts, matches.return_row_id
            rows between unbounded preceding and current row
        ) as returned_so_far
    from matches
    where matches.preference = 1
),

returned as (
    select
        running.raw_row_id,
        sum(running.returned_quantity) as returned_quantity,
        min(case when running.returned_so_far >= kept.quantity then running.returned_ts end) as cancelled_ts
    from running
    inner join kept on running.raw_row_id = kept.raw_row_id
    group by running.raw_row_id
),

clean as (
    select
        kept.raw_row_id,
        kept.user_id,
        kept.item_id,
        kept.event_ts,
        kept.event_type,
        kept.quantity,
        kept.price,
        kept.order_id,
        kept.rating,
        coalesce(returned.returned_quantity, 0) as returned_quantity,
        returned.cancelled_ts
    from kept
    left join returned on kept.raw_row_id = returned.raw_row_id
)

select * from clean
