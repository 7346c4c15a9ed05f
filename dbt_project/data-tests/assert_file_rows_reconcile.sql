-- Every row of the raw files reached staging: the rows the file holds (counted apart from the
-- reader: for CSV a strict scan plus every line it cannot parse, for Parquet its metadata)
-- equal the staged rows. A lenient reader the user chose (read_csv(..., ignore_errors = true))
-- fails here, naming the lines it skipped, unless allow_skipped_lines is true (then it warns).
{{ config(severity='warn' if var('allow_skipped_lines', false) is sameas true else 'error') }}
-- depends_on: {{ ref('stg_interactions') }} {{ ref('stg_items') }}
{%- set checks = [('interactions', 'stg_interactions')] %}
{%- if var('items_path') is not false %}{% do checks.append(('items', 'stg_items')) %}{% endif %}
{%- set counted = [] %}
{%- for entity, model in checks %}
{%- set file_rows = raw_file_rows(source('raw', entity)) %}
{%- if file_rows is not none %}{% do counted.append((entity, model, file_rows)) %}{% endif %}
{%- endfor %}
with
file_rows as (
    {%- for entity, model, file_rows in counted %}
    select
        '{{ entity }}' as raw_file,
        {{ file_rows.rows }} as file_rows,
        (select count(*) from {{ ref(model) }}) as staged_rows,
        {{ sql_string((file_rows.skipped[:10] | join('; ')) or '') }} as skipped_lines
    union all
    {%- endfor %}
    select 'none', 0, 0, ''
),

mismatches as (
    select * from file_rows where file_rows <> staged_rows
)

select * from mismatches
