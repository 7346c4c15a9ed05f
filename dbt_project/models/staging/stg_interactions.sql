-- Raw events renamed and cast to the input contract. Nothing is dropped here: values that
-- cannot be cast become null and cleaning quarantines those rows with a reason.
-- A table, not a view: raw_row_id must be numbered once, so kept + rejected reconcile.
{{ config(materialized='table') }}

{%- set relation = source('raw', 'interactions') -%}
{%- set cols = column_map('interactions') -%}
{%- set available = raw_columns(relation) -%}

with
source as (select * from {{ relation }}),

renamed as (
    select
        row_number() over () as raw_row_id,
        {{ id_text(mapped_column(cols, available, 'user_id', 'interactions', relation, required=true), mapped_type(cols, available, 'user_id')) }} as user_id,
        {{ id_text(mapped_column(cols, available, 'item_id', 'interactions', relation, required=true), mapped_type(cols, available, 'item_id')) }} as item_id,
        {{ parse_timestamp(mapped_column(cols, available, 'event_ts', 'interactions', relation, required=true), var('event_ts_format'), mapped_type(cols, available, 'event_ts')) }} as event_ts,
        cast({{ mapped_column(cols, available, 'event_ts', 'interactions', relation, required=true) }} as varchar) as event_ts_raw,
        coalesce(lower(trim(cast({{ mapped_column(cols, available, 'event_type', 'interactions', relation) }} as varchar))), 'purchase') as event_type,
        coalesce({{ mapped_column(cols, available, 'quantity', 'interactions', relation, cast_to='double') }}, 1) as quantity,
        {{ mapped_column(cols, available, 'price', 'interactions', relation, cast_to='double') }} as price,
        {{ id_text(mapped_column(cols, available, 'order_id', 'interactions', relation), mapped_type(cols, available, 'order_id')) }} as order_id,
        {{ mapped_column(cols, available, 'rating', 'interactions', relation, cast_to='double') }} as rating
    from source
)

select * from renamed
