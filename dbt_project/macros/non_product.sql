{#- True when an item is a service line (postage, fees, manual adjustments), not a product:
    its id fully matches one of the non_product_item_ids patterns, or its title contains one of
    the non_product_titles patterns (regular expressions, case-insensitive). Both vars are
    empty by default; `recsql summary` lists items that look like service lines. -#}
{% macro is_non_product(item_id, title) %}
  {%- set id_patterns = var('non_product_item_ids', []) or [] -%}
  {%- set title_patterns = var('non_product_titles', []) or [] -%}
  {%- if id_patterns is string -%}{%- set id_patterns = [id_patterns] -%}{%- endif -%}
  {%- if title_patterns is string -%}{%- set title_patterns = [title_patterns] -%}{%- endif -%}
  (false
  {%- for pattern in id_patterns %}
    or coalesce({{ regexp_full_match_ci(item_id, sql_string(pattern, 'non_product_item_ids')) }}, false)
  {%- endfor %}
  {%- for pattern in title_patterns %}
    or coalesce({{ regexp_matches_ci(title, sql_string(pattern, 'non_product_titles')) }}, false)
  {%- endfor %})
{%- endmacro %}
