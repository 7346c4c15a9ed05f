-- Each item's categories, one row per item and category: the catalog's category split by var
-- category_separator ('Drama|Thriller' -> Drama, Thriller), or whole when it is null.
-- Category affinity and the popular_category generator read categories from here.
with
items as (select item_id, category from {{ ref('int_items_clean') }}),

exploded as (
    select distinct
        item_id,
        {% if var('category_separator') -%}
        trim(unnest(string_split(category, {{ sql_string(var('category_separator'), 'category_separator') }}))) as category
        {%- else -%}
        category
        {%- endif %}
    from items
    where category is not null
),

categories as (
    select * from exploded where category <> ''
)

select * from categories
