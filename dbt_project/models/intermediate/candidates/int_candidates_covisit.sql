-- Neighbours (by co-visitation before the cutoff) of the user's recent items, scored by the
-- neighbour's relative weight times the recency of the item that led to it, summed.
with
recent as (select * from {{ ref('int_user_recent_items') }}),
covisitation as (select * from {{ ref('int_item_covisitation') }}),

scored as (
    select
        recent.snapshot,
        recent.user_id,
        covisitation.neighbour_item_id as item_id,
        -- rounded: a parallel float sum differs in its last bits from run to run, so would ties' ranks
        round(sum(covisitation.relative_weight * recent.recency_weight), 9) as score
    from recent
    inner join covisitation
        on recent.snapshot = covisitation.snapshot
        and recent.item_id = covisitation.item_id
    group by recent.snapshot, recent.user_id, covisitation.neighbour_item_id
),

unseen as ({{ without_seen_items('scored') }}),

ranked as (
    select
        snapshot, user_id, item_id,
        'covisit' as generator,
        score,
        row_number() over (partition by snapshot, user_id order by score desc, item_id) as generator_rank
    from unseen
),

candidates as (
    select * from ranked where generator_rank <= {{ sql_number(var('candidates_covisit'), 'candidates_covisit', integer=true) }}
)

select * from candidates
