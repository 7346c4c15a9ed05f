{#- Canonical column -> the user's column name (null = not in their data).
    Users give only the keys that differ, through the *_columns vars. -#}
{% macro column_map(entity) %}
  {%- set defaults = {
      'interactions': {'user_id': 'user_id', 'item_id': 'item_id', 'event_ts': 'event_ts',
                       'event_type': 'event_type', 'quantity': 'quantity', 'price': 'price',
                       'order_id': 'order_id', 'rating': 'rating'},
      'items': {'item_id': 'item_id', 'title': 'title', 'description': 'description',
                'category': 'category', 'brand': 'brand', 'price': 'price',
                'created_at': 'created_at'},
      'users': {'user_id': 'user_id', 'signup_date': 'signup_date', 'segment': 'segment'},
  } -%}
  {%- set mapping = defaults[entity].copy() -%}
  {%- do mapping.update(var(entity ~ '_columns', {}) or {}) -%}
  {{ return(mapping) }}
{% endmacro %}
