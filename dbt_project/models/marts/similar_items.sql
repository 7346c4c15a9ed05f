-- "Customers who look at X see Y": each item's nearest items by what their text means, with
-- titles, for people and BI tools. One row per item and neighbour (rank 1 = most similar).
{{ config(enabled=python_models_enabled()) }}  {#- reads Python models: DuckDB only -#}
with
neighbours as (select * from {{ ref('int_item_neighbours') }}),
items as (select item_id, title, category from {{ ref('int_items_clean') }}),

similar_items as (
    select
        neighbours.item_id,
        items.title,
        neighbours.neighbour_item_id,
        neighbour_items.title as neighbour_title,
        neighbour_items.category as neighbour_category,
        cast(neighbours.rank as integer) as rank,
        cast(neighbours.similarity as double) as similarity
    from neighbours
    inner join items on neighbours.item_id = items.item_id
    inner join items as neighbour_items on neighbours.neighbour_item_id = neighbour_items.item_id
)

select * from similar_items
