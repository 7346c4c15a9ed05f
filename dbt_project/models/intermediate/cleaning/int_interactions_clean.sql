-- One row per kept event. A purchase later returned stays, with the time it was cancelled:
-- features as of a cutoff before the return must still see it (the return is future news
-- then); features after it, and labels, drop it (see macro visible_at). Which purchase a
-- return cancels is decided in int_returns.
with
triaged as (select * from {{ ref('int_interactions_triaged') }}),
kept as (select * from triaged where reason is null),
returns as (select * from {{ ref('int_returns') }} where cancels_kept_event),

-- a purchase is cancelled from the moment its returns add up to its quantity (not at its
-- last return: a later, extra return must not move that moment into the future)
running as (
    select
        returns.raw_row_id,
        returns.returned_quantity,
        returns.returned_ts,
        sum(returns.returned_quantity) over (
            partition by returns.raw_row_id
            order by returns.returned_ts, returns.return_row_id
            rows between unbounded preceding and current row
        ) as returned_so_far
    from returns
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
