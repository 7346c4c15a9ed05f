{#- Canonical column -> the user's column name (null = not in their data).
    Users give only the keys that differ, through the *_columns vars. The log may carry item
    text too (title, description, category, brand): it builds or fills the catalog. -#}
{% macro column_map(entity) %}
  {%- set defaults = {
      'interactions': {'user_id': 'user_id', 'item_id': 'item_id', 'event_ts': 'event_ts',
                       'event_type': 'event_type', 'quantity': 'quantity', 'price': 'price',
                       'order_id': 'order_id', 'rating': 'rating', 'title': 'title',
                       'description': 'description', 'category': 'category', 'brand': 'brand'},
      'items': {'item_id': 'item_id', 'title': 'title', 'description': 'description',
                'category': 'category', 'brand': 'brand', 'price': 'price',
                'created_at': 'created_at', 'available': 'available'},
      'users': {'user_id': 'user_id', 'signup_date': 'signup_date', 'segment': 'segment'},
  } -%}
  {%- set mapping = defaults[entity].copy() -%}
  {%- set given = var(entity ~ '_columns', {}) or {} -%}
  {%- if given is not mapping -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ entity ~ "_columns must map canonical names to your column names, e.g. {user_id: customer_id}; got " ~ (given | string)) }}
  {%- endif -%}
  {%- for canonical, column in given.items() -%}
    {%- if canonical not in mapping -%}
      {{ exceptions.raise_compiler_error("recsql: " ~ entity ~ "_columns has no canonical column '" ~ canonical ~ "'; it knows " ~ (mapping.keys() | list | join(', '))) }}
    {%- endif -%}
  {%- endfor -%}
  {%- do mapping.update(given) -%}
  {{ return(mapping) }}
{% endmacro %}
