{#- Any common time encoding -> TIMESTAMP (naive, read as UTC); null when it cannot be read,
    so cleaning can quarantine the row with reason 'invalid_event_ts'.
    fmt auto: timestamps and dates cast directly; numbers are epoch seconds, or milliseconds
    from 1e11 up; text is ISO (or a number in text). Otherwise epoch_s, epoch_ms, or a
    strptime format for text (a literal: quotes in it are escaped). raw_type (from raw_columns)
    picks the cheap path. -#}
{% macro parse_timestamp(column, fmt='auto', raw_type='') %}
  {%- if fmt in ('epoch_s', 'epoch_ms') -%}
    {%- set per_unit = 1000000 if fmt == 'epoch_s' else 1000 -%}
    {{ return(timestamp_from_micros('cast(try_cast(' ~ column ~ ' as double) * ' ~ per_unit ~ ' as bigint)')) }}
  {%- endif -%}
  {{ return(adapter.dispatch('parse_timestamp', 'recsql')(column, fmt, raw_type)) }}
{% endmacro %}

{% macro default__parse_timestamp(column, fmt, raw_type) %}
  {%- set numeric_types = ('BIGINT', 'INTEGER', 'SMALLINT', 'HUGEINT', 'UBIGINT', 'UINTEGER', 'DOUBLE', 'FLOAT') -%}
  {%- set text = "trim(cast(" ~ column ~ " as varchar))" -%}
  {%- if fmt != 'auto' -%}
    try_strptime({{ text }}, {{ sql_string(fmt, 'event_ts_format') }})
  {%- elif raw_type.startswith('TIMESTAMP WITH') -%}
    cast(timezone('UTC', {{ column }}) as timestamp)
  {%- elif raw_type.startswith('TIMESTAMP') or raw_type == 'DATE' -%}
    cast({{ column }} as timestamp)
  {%- elif raw_type in numeric_types or raw_type.startswith('DECIMAL') -%}
    {{ epoch_to_timestamp('cast(' ~ column ~ ' as double)') }}
  {%- else -%}
    case
        when regexp_full_match({{ text }}, '-?[0-9]+(\.[0-9]*)?')
            then {{ epoch_to_timestamp('try_cast(' ~ text ~ ' as double)') }}
        else coalesce(
            try_cast({{ text }} as timestamp),
            cast(timezone('UTC', try_cast({{ text }} as timestamptz)) as timestamp)
        )
    end
  {%- endif -%}
{% endmacro %}

{#- Spark: the same rules; a strptime format becomes Java's pattern for the common codes. -#}
{% macro spark__parse_timestamp(column, fmt, raw_type) %}
  {%- set numeric_types = ('BIGINT', 'INTEGER', 'SMALLINT', 'HUGEINT', 'UBIGINT', 'UINTEGER', 'DOUBLE', 'FLOAT') -%}
  {%- set text = "trim(cast(" ~ column ~ " as string))" -%}
  {%- if fmt != 'auto' -%}
    {%- set codes = {'Y': 'yyyy', 'm': 'MM', 'd': 'dd', 'H': 'HH', 'M': 'mm', 'S': 'ss', 'f': 'SSSSSS',
                     'y': 'yy', 'b': 'MMM', 'B': 'MMMM', 'p': 'a', 'I': 'hh', 'z': 'Z', '%': '%'} -%}
    {%- set java = namespace(pattern='', code=false) -%}
    {%- for char in fmt -%}
      {%- if java.code -%}
        {%- set java.pattern = java.pattern ~ codes.get(char, char) -%}
        {%- set java.code = false -%}
      {%- elif char == '%' -%}
        {%- set java.code = true -%}
      {%- elif char == "'" -%}
        {%- set java.pattern = java.pattern ~ "''" -%}
      {%- elif char.isalpha() -%}
        {#- a letter outside a code is literal text; Java reads bare letters as pattern codes -#}
        {%- set java.pattern = java.pattern ~ "'" ~ char ~ "'" -%}
      {%- else -%}
        {%- set java.pattern = java.pattern ~ char -%}
      {%- endif -%}
    {%- endfor -%}
    try_to_timestamp({{ text }}, {{ sql_string(java.pattern, 'event_ts_format') }})
  {%- elif raw_type.startswith('TIMESTAMP') or raw_type == 'DATE' -%}
    cast({{ column }} as timestamp)
  {%- elif raw_type in numeric_types or raw_type.startswith('DECIMAL') -%}
    {{ epoch_to_timestamp('cast(' ~ column ~ ' as double)') }}
  {%- else -%}
    case
        when {{ text }} rlike '^-?[0-9]+([.][0-9]*)?$'
            then {{ epoch_to_timestamp('try_cast(' ~ text ~ ' as double)') }}
        else cast({{ text }} as timestamp)
    end
  {%- endif -%}
{% endmacro %}

{#- Epoch seconds, or milliseconds when the magnitude is at least 1e11 (year 5138 in seconds). -#}
{% macro epoch_to_timestamp(number) -%}
    {{ timestamp_from_micros('cast(
        ' ~ number ~ ' * case when abs(' ~ number ~ ') >= 1e11 then 1000 else 1000000 end
        as bigint)') }}
{%- endmacro %}
