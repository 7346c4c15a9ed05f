{#- Rows of `relation` (snapshot, user_id, item_id, ...) without the items the user had before
    the snapshot's cutoff, when the build leaves those out (int_seen_policy); all rows
    otherwise. Generators rank what is left, so an excluded item never takes one of their
    slots: a user with 300 items of history keeps all of their top-k new items. -#}
{% macro without_seen_items(relation) -%}
    select kept.*
    from {{ relation }} as kept
    cross join (select exclude_seen from {{ ref('int_seen_policy') }}) as policy
    left join (select snapshot, user_id, item_id from {{ ref('int_user_item_history') }}) as seen
        on kept.snapshot = seen.snapshot
        and kept.user_id = seen.user_id
        and kept.item_id = seen.item_id
    where not (policy.exclude_seen and seen.item_id is not null)
{%- endmacro %}

{#- How deep a best-seller list is read before without_seen_items: `top` when seen items stay;
    4 x `top` when they are left out, so the user's `top` best among items they never had are
    in it (a user who had more than 3/4 of them gets fewer). -#}
{% macro best_seller_depth(top) -%}
    (select {{ top }} * (case when exclude_seen then 4 else 1 end) from {{ ref('int_seen_policy') }})
{%- endmacro %}

{#- without_seen_items for models that rank on integer keys (macro id_keys): the (user_key,
    item_key) of what each user had before the cutoff when the build leaves those out, no rows
    otherwise. `users` maps snapshot and user_id to user_key, `items` item_id to item_key; left
    join it and keep the rows without a match. -#}
{% macro seen_item_keys(users, items) -%}
    select {{ users }}.user_key, {{ items }}.item_key
    from {{ ref('int_user_item_history') }} as history
    inner join {{ users }}
        on history.snapshot = {{ users }}.snapshot and history.user_id = {{ users }}.user_id
    inner join {{ items }} on history.item_id = {{ items }}.item_id
    cross join (select exclude_seen from {{ ref('int_seen_policy') }}) as policy
    where policy.exclude_seen
{%- endmacro %}

{#- Each user's `top` items of `scored` (user_key, item_key, score) by score, equal scores in
    item key order (id order, macro id_keys), without what the user had when the build leaves
    that out (seen_item_keys of `users` and `items`): a generator's ranking on integer keys. -#}
{% macro top_unseen_keys(scored, users, items, top) -%}
    select * from (
        select
            scored.user_key,
            scored.item_key,
            scored.score,
            row_number() over (
                partition by scored.user_key order by scored.score desc, scored.item_key
            ) as generator_rank
        from {{ scored }} as scored
        left join ({{ seen_item_keys(users, items) }}) as seen
            on scored.user_key = seen.user_key and scored.item_key = seen.item_key
        where seen.item_key is null
    ) as numbered
    where generator_rank <= {{ top }}
{%- endmacro %}
