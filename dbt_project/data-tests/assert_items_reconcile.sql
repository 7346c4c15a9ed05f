-- Catalog rows kept + rejected = every raw catalog row.
with
counts as (
    select
        (select count(*) from {{ ref('stg_items') }}) as raw_rows,
        (select count(*) from {{ ref('int_items_clean') }}) as kept_rows,
        (select count(*) from {{ ref('int_items_rejected') }}) as rejected_rows
)

select * from counts where raw_rows <> kept_rows + rejected_rows
