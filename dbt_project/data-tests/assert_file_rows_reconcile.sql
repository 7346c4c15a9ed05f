-- Every row of the raw files reached staging: the rows the file holds (counted apart from the
-- reader: for CSV a strict scan plus every line it cannot parse, for Parquet its metadata)
-- equal the staged rows. A lenient reader the user chose (read_csv(..., ignore_errors = true))
-- stops the build here, naming the lines it skipped, unless allow_skipped_lines is true: then
-- this test warns with the count.
{%- set allowed = var('allow_skipped_lines', false) is sameas true %}
{{ config(severity='warn' if allowed else 'error') }}
-- depends_on: {{ ref('stg_interactions') }} {{ ref('stg_items') }}
{%- set checks = [('interactions', 'stg_interactions')] %}
{%- if var('items_path') is not false %}{% do checks.append(('items', 'stg_items')) %}{% endif %}
{%- set counted = [] %}
{%- for entity, model in checks %}
{%- set file_rows = raw_file_rows(source('raw', entity)) %}
{%- if file_rows is not none %}
{%- set staged = run_query('select count(*) from ' ~ ref(model)).rows[0][0] %}
{%- if staged != file_rows.rows and not allowed %}
{{ exceptions.raise_compiler_error(
    "recsql: the " ~ entity ~ " file holds " ~ file_rows.rows ~ " rows but staging read " ~ staged
    ~ "; the reader skipped " ~ (file_rows.skipped | length) ~ " line(s): " ~ (file_rows.skipped[:10] | join('; '))
    ~ ". Fix those lines, or set allow_skipped_lines: true to accept the loss (this test then warns).") }}
{%- endif %}
{%- do counted.append((entity, file_rows, staged)) %}
{%- endif %}
{%- endfor %}
with
file_rows as (
    {%- for entity, file_rows, staged in counted %}
    select
        {{ sql_string(entity) }} as raw_file,
        {{ file_rows.rows }} as file_rows,
        {{ staged }} as staged_rows,
        {{ sql_string(file_rows.skipped[:10] | join('; ')) }} as skipped_lines
    union all
    {%- endfor %}
    select 'none' as raw_file, 0 as file_rows, 0 as staged_rows, '' as skipped_lines
),

mismatches as (
    select * from file_rows where file_rows <> staged_rows
)

select * from mismatches
