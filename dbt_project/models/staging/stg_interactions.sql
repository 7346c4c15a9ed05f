-- Raw events renamed and cast to the input contract. Nothing is dropped here: values that
-- cannot be read become null and cleaning quarantines those rows with a reason (a quantity
-- or price that is there but is not a number keeps its raw text for that). Control
-- characters are stripped from every text column. Item text the log carries (title, ...)
-- builds or fills the catalog (int_items_from_log).
-- A table, not a view: raw_row_id must be numbered once, so kept + rejected reconcile.
{{ config(materialized='table') }}

{%- set relation = raw_relation(source('raw', 'interactions')) -%}
{%- set cols = column_map('interactions') -%}
{%- set available = raw_columns(relation, 'interactions') -%}
{%- set quantity = mapped_column(cols, available, 'quantity', 'interactions', relation) -%}
{%- set quantity_type = mapped_type(cols, available, 'quantity') -%}
{%- set price = mapped_column(cols, available, 'price', 'interactions', relation) -%}
{%- set price_type = mapped_type(cols, available, 'price') -%}

with
source as (select * from {{ relation }}),

renamed as (
    select
        {{ file_row_number() }} as raw_row_id,
        {{ id_text(mapped_column(cols, available, 'user_id', 'interactions', relation, required=true), mapped_type(cols, available, 'user_id')) }} as user_id,
        {{ id_text(mapped_column(cols, available, 'item_id', 'interactions', relation, required=true), mapped_type(cols, available, 'item_id')) }} as item_id,
        {{ parse_timestamp(mapped_column(cols, available, 'event_ts', 'interactions', relation, required=true), var('event_ts_format'), mapped_type(cols, available, 'event_ts')) }} as event_ts,
        {{ raw_text(mapped_column(cols, available, 'event_ts', 'interactions', relation, required=true)) }} as event_ts_raw,
        coalesce(nullif(lower(trim({{ raw_text(mapped_column(cols, available, 'event_type', 'interactions', relation)) }})), ''), 'purchase') as event_type,
        {{ raw_number(quantity, quantity_type) }} as quantity_value,
        {{ raw_unreadable_number(quantity, quantity_type) }} as quantity_raw,
        {{ raw_number(price, price_type) }} as price,
        {{ raw_unreadable_number(price, price_type) }} as price_raw,
        {{ id_text(mapped_column(cols, available, 'order_id', 'interactions', relation), mapped_type(cols, available, 'order_id')) }} as order_id,
        {{ mapped_column(cols, available, 'rating', 'interactions', relation, cast_to='double') }} as rating,
        {%- for text_column in ['title', 'description', 'category', 'brand'] %}
        {{ raw_text(mapped_column(cols, available, text_column, 'interactions', relation)) }} as {{ text_column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from source
),

-- a quantity that is there but cannot be read stays null (cleaning says invalid_quantity);
-- only an absent one means 1
numbers as (
    select
        {{ star_except(['quantity_value']) }},
        case when quantity_raw is null then coalesce(quantity_value, 1) end as quantity
    from renamed
)

select * from numbers
