{#- The columns a raw relation really has, name -> DuckDB type, so staging can map what exists,
    cast by the real type (cheap) instead of parsing text, fill what is optional with null,
    and stop with a clear message when a required column is missing. A CSV file is checked
    first (macro check_raw_file): an empty or unparseable file stops here, naming the line. -#}
{% macro raw_columns(relation, entity='raw') %}
  {%- if not execute -%}{{ return({}) }}{%- endif -%}
  {%- do check_raw_file(relation, entity) -%}
  {{ return(described_columns('select * from ' ~ relation)) }}
{% endmacro %}

{#- The user's column for `canonical`, quoted, or null when they map it to null or the file
    lacks it. A required column that is missing raises an error naming file and column. -#}
{% macro mapped_column(mapping, available, canonical, entity, relation, required=false, cast_to=none) %}
  {%- set source_col = mapping.get(canonical) -%}
  {%- if source_col and (not execute or source_col in available) -%}
    {%- set expr = sql_identifier(source_col) -%}
  {%- elif required -%}
    {{ exceptions.raise_compiler_error(
        "recsql: the " ~ entity ~ " file " ~ relation ~ " has no column '" ~ (source_col or canonical)
        ~ "' for " ~ canonical ~ ". Its columns are: " ~ (available.keys() | list | join(', '))
        ~ ". Map yours with --vars '{" ~ entity ~ "_columns: {" ~ canonical ~ ": <your column>}}'.") }}
  {%- else -%}
    {%- set expr = 'null' -%}
  {%- endif -%}
  {%- if cast_to and expr != 'null' -%}try_cast({{ expr }} as {{ cast_to }}){%- elif cast_to -%}cast(null as {{ cast_to }}){%- else -%}{{ expr }}{%- endif -%}
{% endmacro %}

{#- The raw DuckDB type of the user's column for `canonical` ('' when absent). -#}
{% macro mapped_type(mapping, available, canonical) %}
  {%- set source_col = mapping.get(canonical) -%}
  {{ return(available.get(source_col, '') if source_col else '') }}
{% endmacro %}

{#- A raw number as DOUBLE: null when absent or unreadable ('two', '1,50', NaN). Numeric
    columns are cast directly (cheap); text is trimmed and parsed. -#}
{% macro raw_number(column, raw_type='') %}
  {%- if column == 'null' -%}
    cast(null as double)
  {%- elif raw_type in numeric_raw_types() or raw_type.startswith('DECIMAL') -%}
    case when {{ is_finite('cast(' ~ column ~ ' as double)') }} then cast({{ column }} as double) end
  {%- else -%}
    case when {{ is_finite('try_cast(trim(' ~ raw_text(column) ~ ') as double)') }} then try_cast(trim({{ raw_text(column) }}) as double) end
  {%- endif -%}
{% endmacro %}

{#- The raw text of a number that is there but cannot be read (else null), so cleaning can
    quarantine the row with it instead of defaulting. -#}
{% macro raw_unreadable_number(column, raw_type='') %}
  {%- if column == 'null' -%}
    cast(null as {{ dbt.type_string() }})
  {%- elif raw_type in numeric_raw_types() or raw_type.startswith('DECIMAL') -%}
    case when not {{ is_finite('cast(' ~ column ~ ' as double)') }} then cast({{ column }} as {{ dbt.type_string() }}) end
  {%- else -%}
    case
        when nullif(trim({{ raw_text(column) }}), '') is not null
            and not coalesce({{ is_finite('try_cast(trim(' ~ raw_text(column) ~ ') as double)') }}, false)
            then trim({{ raw_text(column) }})
    end
  {%- endif -%}
{% endmacro %}

{#- A raw yes/no as BOOLEAN: true/false, yes/no, y/n, 1/0, or a number (a stock count: > 0 =
    true); anything else null (unknown). -#}
{% macro raw_flag(column, raw_type='') %}
  {%- if column == 'null' -%}
    cast(null as boolean)
  {%- elif raw_type == 'BOOLEAN' -%}
    {{ column }}
  {%- elif raw_type in numeric_raw_types() or raw_type.startswith('DECIMAL') -%}
    cast({{ column }} as double) > 0
  {%- else -%}
    case
        when lower(trim({{ raw_text(column) }})) in ('true', 't', 'yes', 'y') then true
        when lower(trim({{ raw_text(column) }})) in ('false', 'f', 'no', 'n') then false
        else try_cast(trim({{ raw_text(column) }}) as double) > 0
    end
  {%- endif -%}
{% endmacro %}

{% macro numeric_raw_types() %}
  {{ return(('BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT', 'HUGEINT', 'UBIGINT', 'UINTEGER', 'USMALLINT', 'UTINYINT', 'DOUBLE', 'FLOAT')) }}
{% endmacro %}
