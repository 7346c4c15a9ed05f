-- Each item's mapped attributes (vars item_attributes, item_numeric_attributes): one row per
-- item, from its first catalog row when the catalog lists it twice. Attributes carry no time,
-- so every snapshot sees the same ones.
{%- set attributes = attribute_features('item_attributes') + attribute_features('item_numeric_attributes') %}

with
items as (select * from {{ ref('stg_items') }} where item_id is not null)

select
    item_id
    {%- for attribute in attributes %},
    {{ arg_min_not_null(attribute.feature, 'raw_row_id') }} as {{ attribute.feature }}
    {%- endfor %}
from items
group by item_id
