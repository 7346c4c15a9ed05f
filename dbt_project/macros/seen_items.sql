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
