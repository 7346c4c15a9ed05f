-- The ranker's table: one row per snapshot, user and candidate item, with every feature as of
-- the snapshot's cutoff (all inputs read history through int_events_before_cutoff) and the
-- label from the snapshot's window (null on serve rows). `recsql train` reads the feature
-- columns listed in ranker_features. Rolled-back train snapshots carry a sample of each user's
-- negatives (int_candidate_sample; sample_weight counts the rest). Built in parts of whole
-- users when large (macros/user_parts.sql): every input keyed by user reads its part's users.
{{ config(materialized='user_parts_table' if target.type == 'duckdb' else 'table') }}
{%- set parts = user_parts(ref('int_candidate_sample')) %}
with
-- a view of int_candidates: read twice, inlined (a copy of it spilled at 2M events)
candidates as {{ inline_cte() }} (
    select * from {{ ref('int_candidate_sample') }} where {{ in_user_part('user_id', parts) }}
),
snapshots as (select snapshot, split, cutoff_ts from {{ ref('int_snapshots') }}),
items as (select * from {{ ref('int_items_clean') }}),
popularity as (select * from {{ ref('int_item_popularity') }}),
users as (select * from {{ ref('int_user_aggregates') }} where {{ in_user_part('user_id', parts) }}),
user_items as (
    select * from {{ ref('int_user_item_history') }} where {{ in_user_part('user_id', parts) }}
),
categories as (
    select snapshot, user_id, category, share, days_since_last, rating_mean
    from {{ ref('int_user_category_affinity') }}
    where {{ in_user_part('user_id', parts) }}
),
item_categories as (select item_id, category from {{ ref('int_item_categories') }}),
brands as (
    select snapshot, user_id, brand, share from {{ ref('int_user_brand_affinity') }}
    where {{ in_user_part('user_id', parts) }}
),
{%- if python_models_enabled() %}
similarity as (
    select * from {{ ref('int_candidate_similarity') }} where {{ in_user_part('user_id', parts) }}
),
{%- else %}
-- no text vectors without Python (DuckDB only): the sim_ features and similar_to_title stay null
similarity as (
    select
        cast(null as {{ dbt.type_string() }}) as snapshot,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as item_id,
        cast(null as bigint) as candidate_id,
        cast(null as double) as sim_profile,
        cast(null as double) as sim_recent_max,
        cast(null as double) as sim_recent_mean,
        cast(null as {{ dbt.type_string() }}) as similar_to_item_id
    where false
),
{%- endif %}
labels as (
    select snapshot, user_id, item_id, label_grade from {{ ref('int_labels') }}
    where {{ in_user_part('user_id', parts) }}
),
policy as (select exclude_seen from {{ ref('int_seen_policy') }}),
shown as (select * from {{ ref('int_user_item_feedback') }} where {{ in_user_part('user_id', parts) }}),
{%- set user_attributes = attribute_features('user_attributes') %}
{%- set item_attributes = attribute_features('item_attributes') + attribute_features('item_numeric_attributes') %}
{%- if user_attributes %}
user_attributes as (select * from {{ ref('int_user_attributes') }}),
{%- endif %}
{%- if item_attributes %}
item_attributes as (select * from {{ ref('int_item_attributes') }}),
{%- endif %}

category_share as (
    -- the user's share of the item's best-liked category (items may have several), when they
    -- last had one of its categories, and their mean rating of the items in its categories;
    -- per candidate_id (one integer to group by)
    select
        candidates.candidate_id,
        max(categories.share) as share,
        min(categories.days_since_last) as days_since_last,
        avg(categories.rating_mean) as rating_mean
    from candidates
    inner join item_categories on candidates.item_id = item_categories.item_id
    inner join categories
        on candidates.snapshot = categories.snapshot
        and candidates.user_id = categories.user_id
        and item_categories.category = categories.category
    group by candidates.candidate_id
),

features as (
    select
        candidates.snapshot,
        snapshots.split,
        snapshots.cutoff_ts,
        candidates.user_id,
        candidates.item_id,
        -- item_: popularity before the cutoff
        {% for days in var('popularity_window_days') -%}
        coalesce(popularity.events_{{ days }}d, 0) as item_events_{{ days }}d,
        {% endfor -%}
        coalesce(popularity.events_total, 0) as item_events_total,
        coalesce(popularity.users_30d, 0) as item_users_30d,
        coalesce(popularity.unique_users, 0) as item_unique_users,
        coalesce(popularity.trend_7d_30d, 0) as item_trend_7d_30d,
        popularity.days_since_last_event as item_days_since_last_event,
        coalesce(
            popularity.age_days,
            {{ days_between('items.created_at', 'snapshots.cutoff_ts') }}
        ) as item_age_days,
        items.price as item_price,
        popularity.rating_mean as item_rating_mean,
        coalesce(popularity.rating_count, 0) as item_rating_count,
        coalesce(popularity.repeat_rate, 0) as item_repeat_rate,
        popularity.median_gap_days as item_median_gap_days,
        -- user_: behaviour before the cutoff (null for users without history)
        coalesce(users.events, 0) as user_events,
        coalesce(users.events_30d, 0) as user_events_30d,
        coalesce(users.distinct_items, 0) as user_distinct_items,
        coalesce(users.orders, 0) as user_orders,
        users.days_since_last_event as user_days_since_last_event,
        users.tenure_days as user_tenure_days,
        users.avg_price as user_avg_price,
        users.price_std as user_price_std,
        users.repurchase_rate as user_repurchase_rate,
        users.rating_mean as user_rating_mean,
        users.top_category_share as user_top_category_share,
        coalesce(users.category_count, 0) as user_category_count,
        -- user_item_: this user with this item, its category and brand
        coalesce(user_items.times_bought, 0) as user_item_times_bought,
        user_items.days_since_last as user_item_days_since_last,
        coalesce(user_items.recency_weight, 0) as user_item_recency_weight,
        coalesce(user_items.events_30d, 0) as user_item_events_30d,
        -- the share of the user's orders that held the item: a staple scores near 1 (least()
        -- skips nulls, so the coalesce comes first: an item never had scores 0, not 1)
        least(1.0, coalesce(user_items.times_bought / nullif(users.orders, 0), 0)) as user_item_order_share,
        user_items.mean_gap_days as user_item_mean_gap_days,
        user_items.due_ratio as user_item_due_ratio,
        -- visits rather than days: a weekly shopper's staple is overdue after two missed visits
        user_items.visits_since_last as user_item_visits_since_last,
        -- a large pack lasts longer between purchases
        user_items.quantity / nullif(user_items.times_bought, 0) as user_item_units_per_event,
        -- the item's usual gap among its buyers, for a user who had it only once
        user_items.days_since_last / nullif(popularity.median_gap_days, 0) as user_item_due_ratio_item,
        coalesce(categories.share, 0) as user_item_category_share,
        categories.days_since_last as user_item_category_days_since_last,
        -- how long the user has been having the item's category without the item: a staple
        -- scores 0, one the user moved away from (another brand, another flavour) grows
        user_items.days_since_last - categories.days_since_last as user_item_category_lead_days,
        -- how the user rated related items (same categories), against their own mean
        categories.rating_mean - users.rating_mean as user_item_category_rating,
        coalesce(brands.share, 0) as user_item_brand_share,
        items.price / nullif(users.avg_price, 0) as user_item_price_ratio,
        -- served lists before the cutoff (feedback): shown, shown and skipped, best position
        coalesce(shown.times_shown, 0) as user_item_times_shown,
        coalesce(shown.times_skipped, 0) as user_item_times_skipped,
        shown.best_position as user_item_best_position,
        -- user_attr_ / item_attr_ / item_num_: the attributes the vars map (static)
        {% for attribute in user_attributes -%}
        user_attributes.{{ attribute.feature }},
        {% endfor -%}
        {% for attribute in item_attributes -%}
        item_attributes.{{ attribute.feature }},
        {% endfor -%}
        -- sim_: text similarity of the item to the user's profile and recent items
        similarity.sim_profile,
        similarity.sim_recent_max,
        similarity.sim_recent_mean,
        -- gen_: which generators proposed it, how they scored and ranked it
        {% for name in candidate_generator_names() -%}
        candidates.gen_{{ name }}_score,
        candidates.gen_{{ name }}_rank,
        {% endfor -%}
        candidates.gen_count,
        user_items.item_id is not null as is_seen,
        -- for the reasons and caps: the item's category and brand, and what it resembles in the
        -- user's history. The item's own title stays in int_items_clean: on every candidate row
        -- it cost this model 105 s against 86 s at 2M events.
        {% if var('category_separator') -%}
        replace(items.category, {{ sql_string(var('category_separator'), 'category_separator') }}, ', ') as category,
        {%- else -%}
        items.category,
        {%- endif %}
        items.brand,
        similar_items.title as similar_to_title,
        -- the label: in the user's window after the cutoff (null where there is no window)
        case when snapshots.split = 'serve' then null when labels.item_id is null then 0 else 1 end as label,
        case when snapshots.split = 'serve' then null else coalesce(labels.label_grade, 0) end as label_grade,
        -- rows of the whole candidate list this row stands for (int_candidate_sample)
        candidates.sample_weight
    from candidates
    inner join snapshots on candidates.snapshot = snapshots.snapshot
    inner join items on candidates.item_id = items.item_id
    left join popularity
        on candidates.snapshot = popularity.snapshot and candidates.item_id = popularity.item_id
    left join users
        on candidates.snapshot = users.snapshot and candidates.user_id = users.user_id
    left join user_items
        on candidates.snapshot = user_items.snapshot
        and candidates.user_id = user_items.user_id
        and candidates.item_id = user_items.item_id
    left join category_share as categories on candidates.candidate_id = categories.candidate_id
    left join brands
        on candidates.snapshot = brands.snapshot
        and candidates.user_id = brands.user_id
        and items.brand = brands.brand
    left join similarity on candidates.candidate_id = similarity.candidate_id
    left join items as similar_items on similarity.similar_to_item_id = similar_items.item_id
    {%- if user_attributes %}
    left join user_attributes on candidates.user_id = user_attributes.user_id
    {%- endif %}
    {%- if item_attributes %}
    left join item_attributes on candidates.item_id = item_attributes.item_id
    {%- endif %}
    left join shown
        on candidates.snapshot = shown.snapshot
        and candidates.user_id = shown.user_id
        and candidates.item_id = shown.item_id
    left join labels
        on candidates.snapshot = labels.snapshot
        and candidates.user_id = labels.user_id
        and candidates.item_id = labels.item_id
    cross join policy
    where not (policy.exclude_seen and user_items.item_id is not null)
)

select * from features
