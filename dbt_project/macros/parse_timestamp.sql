{#- Any common time encoding -> TIMESTAMP (naive, read as UTC); null when it cannot be read,
    so cleaning can quarantine the row with reason 'invalid_event_ts'.
    auto: timestamps, dates, ISO text, epoch seconds or milliseconds (numbers >= 1e11 are ms). -#}
{% macro parse_timestamp(column, fmt='auto') %}
  {{ return(adapter.dispatch('parse_timestamp', 'recsql')(column, fmt)) }}
{% endmacro %}

{% macro default__parse_timestamp(column, fmt) %}
  {%- set text = "trim(cast(" ~ column ~ " as varchar))" -%}
  {%- if fmt == 'epoch_s' -%}
    make_timestamp(cast(try_cast({{ text }} as double) * 1000000 as bigint))
  {%- elif fmt == 'epoch_ms' -%}
    make_timestamp(cast(try_cast({{ text }} as double) * 1000 as bigint))
  {%- elif fmt == 'auto' -%}
    case
        when regexp_full_match({{ text }}, '-?[0-9]+(\.[0-9]*)?')
            then make_timestamp(cast(
                try_cast({{ text }} as double)
                * case when abs(try_cast({{ text }} as double)) >= 1e11 then 1000 else 1000000 end
                as bigint))
        else coalesce(
            try_cast({{ text }} as timestamp),
            try_cast(try_cast({{ text }} as timestamptz) at time zone 'UTC' as timestamp)
        )
    end
  {%- else -%}
    try_strptime({{ text }}, '{{ fmt }}')
  {%- endif -%}
{% endmacro %}
