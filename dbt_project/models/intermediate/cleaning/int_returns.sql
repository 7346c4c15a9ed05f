-- One row per return (a row triaged 'return') and the purchase it cancels, as shops record
-- them: a return whose order id names an earlier line of the same user and item (the same
-- id, or the id with cancelled_order_prefix in front) cancels that line ('order_id'); any
-- other return (a credit note with its own number, or no order id) cancels the latest
-- earlier purchase of the same user and item that is not yet returned, unit by unit
-- ('latest_purchase'). A return with nothing left to cancel is 'unmatched' and cancels nothing.
with
triaged as (select * from {{ ref('int_interactions_triaged') }}),
returns as (
    select raw_row_id, user_id, item_id, event_ts, order_id, abs(quantity) as returned_quantity
    from triaged
    where reason = 'return'
),
lines as (select * from triaged where reason is distinct from 'return'),
kept as (select * from triaged where reason is null),

-- returns naming an earlier line: prefer the kept line, then the latest
named_candidates as (
    select
        returns.raw_row_id as return_row_id,
        lines.raw_row_id,
        lines.reason is null as is_kept,
        row_number() over (
            partition by returns.raw_row_id
            order by lines.reason is null desc, lines.event_ts desc, lines.raw_row_id desc
        ) as preference
    from returns
    inner join lines
        on returns.user_id = lines.user_id
        and returns.item_id = lines.item_id
        and lines.event_ts <= returns.event_ts
        and (
            returns.order_id = lines.order_id
            or returns.order_id = {{ sql_string(var('cancelled_order_prefix') or '', 'cancelled_order_prefix') }} || lines.order_id
        )
),

named as (
    select return_row_id, raw_row_id, is_kept
    from named_candidates
    where preference = 1
),

-- the other returns walk a stack of the user's purchases of the item in time order: a
-- purchase pushes its units, every return pops from the top at its own time (a named one too,
-- so the stack as of a moment depends on nothing later: point-in-time), never below empty; an
-- unnamed return cancels the purchase that holds the top unit when it comes
unnamed as (
    select returns.*
    from returns
    left join named on returns.raw_row_id = named.return_row_id
    where named.return_row_id is null
),

walk as (
    select
        kept.user_id, kept.item_id, kept.raw_row_id, kept.event_ts, 0 as is_return,
        kept.quantity as units
    from kept
    where exists (
        select 1 from unnamed
        where unnamed.user_id = kept.user_id and unnamed.item_id = kept.item_id
    )
    union all
    select returns.user_id, returns.item_id, returns.raw_row_id, returns.event_ts, 1 as is_return,
        -returns.returned_quantity as units
    from returns
    where exists (
        select 1 from unnamed
        where unnamed.user_id = returns.user_id and unnamed.item_id = returns.item_id
    )
),

running as (
    select
        *,
        row_number() over (partition by user_id, item_id order by event_ts, is_return, raw_row_id) as step,
        sum(units) over (
            partition by user_id, item_id order by event_ts, is_return, raw_row_id
            rows between unbounded preceding and current row
        ) as total
    from walk
),

levels as (
    select
        *,
        total - least(0, min(total) over (
            partition by user_id, item_id order by step rows between unbounded preceding and current row
        )) as level
    from running
),

stacked as (
    select
        *,
        coalesce(lag(level) over (partition by user_id, item_id order by step), 0) as level_before
    from levels
),

popped as (
    select
        returns.raw_row_id as return_row_id,
        purchases.raw_row_id,
        row_number() over (
            partition by returns.raw_row_id order by purchases.step desc
        ) as preference
    from stacked as returns
    inner join stacked as purchases
        on returns.user_id = purchases.user_id
        and returns.item_id = purchases.item_id
        and purchases.is_return = 0
        and purchases.step < returns.step
        and purchases.level_before < returns.level_before
        and returns.level_before <= purchases.level
    where returns.is_return = 1 and returns.level_before > 0
        and returns.raw_row_id in (select raw_row_id from unnamed)
),

matched as (
    select
        returns.raw_row_id as return_row_id,
        returns.user_id,
        returns.item_id,
        returns.event_ts as returned_ts,
        returns.returned_quantity,
        coalesce(named.raw_row_id, popped.raw_row_id) as raw_row_id,
        case
            when named.return_row_id is not null then 'order_id'
            when popped.return_row_id is not null then 'latest_purchase'
            else 'unmatched'
        end as matched_by,
        coalesce(named.is_kept, popped.return_row_id is not null) as cancels_kept_event
    from returns
    left join named on returns.raw_row_id = named.return_row_id
    left join popped on returns.raw_row_id = popped.return_row_id and popped.preference = 1
)

select * from matched
