{#- Value vars reach SQL only through these macros: each checks the value's type and renders a
    literal (quotes escaped), or stops the build naming the var. A var is never pasted into a
    statement as text, so `as_of_ts: "2100-01-01' as timestamp) or exists(...) or '"` is
    refused, and a return type with a quote in it is just an odd string. -#}

{#- A string literal: text and numbers only (a list or mapping is refused). -#}
{% macro sql_string(value, name='value') %}
  {%- if value is none -%}
    {{ return('null') }}
  {%- elif value is boolean or value is mapping or (value is iterable and value is not string) -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ name ~ " must be text, not " ~ (value | string)) }}
  {%- endif -%}
  {{ return(adapter.dispatch('sql_string', 'recsql')(value | string)) }}
{% endmacro %}

{% macro default__sql_string(text) %}
  {{ return("'" ~ text.replace("'", "''") ~ "'") }}
{% endmacro %}

{#- Spark reads backslash escapes inside string literals. -#}
{% macro spark__sql_string(text) %}
  {{ return("'" ~ text.replace("\\", "\\\\").replace("'", "\\'") ~ "'") }}
{% endmacro %}

{#- String literals, comma separated, from a list (or one string). -#}
{% macro sql_string_list(values, name='value') %}
  {%- set items = [values] if values is string else (values or []) -%}
  {%- if values is mapping or items is not iterable -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ name ~ " must be a list of text values, not " ~ (values | string)) }}
  {%- endif -%}
  {%- set literals = [] -%}
  {%- for item in items -%}{%- do literals.append(sql_string(item, name)) -%}{%- endfor -%}
  {{ return(literals | join(', ')) }}
{% endmacro %}

{#- A timestamp literal from a date or date-time ('2026-01-01', '2026-01-01 12:30:00'); YAML's
    own dates are accepted too. Anything else is refused before it reaches the database. -#}
{% macro sql_timestamp(value, name='value') %}
  {%- set text = value | string -%}
  {%- if value is none or value is boolean or value is number
        or not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?', text) -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ name ~ " must be a date or timestamp like '2026-01-01' or '2026-01-01 12:30:00', not " ~ text) }}
  {%- endif -%}
  {{ return("cast(" ~ sql_string(text.replace('T', ' ')) ~ " as " ~ dbt.type_timestamp() ~ ")") }}
{% endmacro %}

{#- A number literal (int or float; numeric text accepted; whole numbers render whole).
    `minimum` refuses smaller values. -#}
{% macro sql_number(value, name='value', integer=false, minimum=none) %}
  {%- set text = value | string | trim -%}
  {%- set pattern = '-?[0-9]+' if integer else '-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?' -%}
  {%- if value is none or value is boolean or not modules.re.fullmatch(pattern, text) -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ name ~ " must be " ~ ("a whole number" if integer else "a number") ~ ", not " ~ (value | string)) }}
  {%- endif -%}
  {#- a whole number stays whole (30, not 30.0), so it still fits an INTEGER parameter -#}
  {%- set number = (text | int) if integer or modules.re.fullmatch('-?[0-9]+', text) else (text | float) -%}
  {%- if minimum is not none and number < minimum -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ name ~ " must be at least " ~ minimum ~ ", not " ~ text) }}
  {%- endif -%}
  {{ return(number | string) }}
{% endmacro %}

{#- true or false, refused otherwise (a string 'false' would be truthy in Jinja). -#}
{% macro sql_boolean(value, name='value') %}
  {%- if value is not boolean -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ name ~ " must be true or false, not " ~ (value | string)) }}
  {%- endif -%}
  {{ return('true' if value else 'false') }}
{% endmacro %}

{#- An identifier in double quotes, embedded quotes doubled. -#}
{% macro sql_identifier(name) %}
  {{ return(adapter.dispatch('sql_identifier', 'recsql')(name | string)) }}
{% endmacro %}

{% macro default__sql_identifier(name) %}
  {{ return('"' ~ name.replace('"', '""') ~ '"') }}
{% endmacro %}

{#- Spark quotes identifiers with backticks. -#}
{% macro spark__sql_identifier(name) %}
  {{ return('`' ~ name.replace('`', '``') ~ '`') }}
{% endmacro %}
