-- Whether items a user already had may be recommended to them again (one row). var
-- exclude_seen: true, false, or auto = exclude when re-buys are rarer than exclude_seen_below
-- of the train snapshots' label items (a ratings log: almost never; groceries: often). Any
-- other value than auto, true or false stops the build.
-- Only train labels decide, so the test snapshot stays an honest judge.
{%- set setting = var('exclude_seen') %}
with
snapshots as (select snapshot from {{ ref('int_snapshots') }} where split = 'train'),
labels as (select snapshot, user_id, item_id from {{ ref('int_labels') }}),
history as (select snapshot, user_id, item_id from {{ ref('int_user_item_history') }}),

measured as (
    select
        count(*) as label_items,
        count(history.item_id) as rebought_items
    from labels
    inner join snapshots on labels.snapshot = snapshots.snapshot
    left join history
        on labels.snapshot = history.snapshot
        and labels.user_id = history.user_id
        and labels.item_id = history.item_id
),

policy as (
    select
        label_items,
        rebought_items,
        rebought_items / nullif(label_items, 0) as rebuy_share,
        {% if setting is string and setting | lower == 'auto' -%}
        coalesce(rebought_items / nullif(label_items, 0), 1) < {{ sql_number(var('exclude_seen_below'), 'exclude_seen_below') }} as exclude_seen,
        'auto' as decided_by
        {%- else -%}
        {{ sql_boolean(setting, 'exclude_seen') }} as exclude_seen,
        'var exclude_seen' as decided_by
        {%- endif %}
    from measured
)

select * from policy
