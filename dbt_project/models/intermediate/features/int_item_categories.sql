-- Each item's categories, one row per item and category: the catalog's category split by var
-- category_separator ('Drama|Thriller' -> Drama, Thriller), or whole when it is null.
-- Category affinity and the popular_category generator read categories from here.
with
items as (select item_id, category from {{ ref('int_items_clean') }}),

exploded as (
    {% if var('category_separator') -%}
    select distinct item_id, trim(category) as category
    from (
        select item_id, {{ split_to_rows('category', var('category_separator')) }} as category
        from items
        where category is not null
    ) as parts
    {%- else -%}
    select distinct item_id, category
    from items
    where category is not null
    {%- endif %}
),

categories as (
    select * from exploded where category <> ''
)

select * from categories
