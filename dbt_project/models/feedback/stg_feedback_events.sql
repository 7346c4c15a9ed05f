-- Feedback `recsql serve` acknowledged (impressions, clicks, add-to-carts, purchases of served
-- items), read in place from the sealed JSON-lines segments (source feedback_events, by glob).
-- Optional: with feedback_path: false, or before any segment exists, this is an empty table of
-- the same columns, so the project builds without feedback. A client that retried an event
-- with the same event_id is counted once (the first one received). One row per event.
{{ config(materialized='table') }}

{%- set relation = source('feedback', 'feedback_events') -%}
{%- set location = (relation.external or '') | string | trim -%}
{%- set quoted = modules.re.fullmatch("'((?:[^']|'')*)'", location) -%}
{%- set path = quoted.group(1).replace("''", "'") if quoted else none -%}
{%- set has_files = false -%}
{%- if execute and var('feedback_path') is not false and path -%}
  {%- set found = run_query('select count(*) from glob(' ~ sql_string(path, 'feedback_path') ~ ')') -%}
  {%- set has_files = found.rows[0][0] > 0 -%}
{%- endif %}

{%- if has_files %}

with
source as (
    select *
    from read_json(
        {{ sql_string(path, 'feedback_path') }},
        format = 'newline_delimited',
        filename = true,
        columns = {
            event_id: 'varchar', event_type: 'varchar', request_id: 'varchar', run_id: 'varchar',
            model_version: 'varchar', list: 'varchar', user_id: 'varchar', item_id: 'varchar',
            position: 'integer', reason: 'varchar', event_ts: 'varchar', received_at: 'varchar'
        }
    )
),

renamed as (
    select
        event_id,
        lower(event_type) as event_type,
        request_id,
        run_id,
        model_version,
        list as list_kind,
        user_id,
        item_id,
        position,
        reason,
        -- the server writes UTC times with a trailing Z
        try_cast(replace(event_ts, 'Z', '') as {{ dbt.type_timestamp() }}) as event_ts,
        try_cast(replace(received_at, 'Z', '') as {{ dbt.type_timestamp() }}) as received_at,
        filename as segment
    from source
),

numbered as (
    select
        renamed.*,
        row_number() over (partition by event_id order by received_at nulls last, segment) as copy_number
    from renamed
),

deduplicated as (
    select
        event_id, event_type, request_id, run_id, model_version, list_kind, user_id, item_id,
        position, reason, event_ts, received_at, segment
    from numbered
    where copy_number = 1
)

select * from deduplicated

{%- else %}

with
no_feedback as (
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        cast(null as {{ dbt.type_string() }}) as event_type,
        cast(null as {{ dbt.type_string() }}) as request_id,
        cast(null as {{ dbt.type_string() }}) as run_id,
        cast(null as {{ dbt.type_string() }}) as model_version,
        cast(null as {{ dbt.type_string() }}) as list_kind,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as item_id,
        cast(null as integer) as position,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_timestamp() }}) as event_ts,
        cast(null as {{ dbt.type_timestamp() }}) as received_at,
        cast(null as {{ dbt.type_string() }}) as segment
    where false
)

select * from no_feedback
{%- endif %}
