{#- THE feature list of the ranker, in order: fct_candidates carries these columns and the
    ranker_features table lists them for `recsql train` (it never hard-codes features).
    Families are name prefixes: item_, user_, user_item_, sim_, gen_. var ranker_features
    (a list of names) keeps a subset. Mapped attributes (macro attribute_features) come last;
    user_attr_ / item_attr_ ones are categorical (macro feature_kind). -#}
{% macro default_ranker_features() %}
  {%- set features = [
      'item_events_7d', 'item_events_30d', 'item_events_90d', 'item_events_total',
      'item_users_30d', 'item_unique_users', 'item_trend_7d_30d',
      'item_days_since_last_event', 'item_age_days', 'item_price',
      'item_rating_mean', 'item_rating_count', 'item_repeat_rate', 'item_median_gap_days',
      'user_rating_mean',
      'user_events', 'user_events_30d', 'user_distinct_items', 'user_orders',
      'user_days_since_last_event', 'user_tenure_days', 'user_avg_price', 'user_price_std',
      'user_repurchase_rate', 'user_top_category_share', 'user_category_count',
      'user_item_times_bought', 'user_item_days_since_last', 'user_item_recency_weight',
      'user_item_events_30d', 'user_item_order_share', 'user_item_mean_gap_days', 'user_item_due_ratio',
      'user_item_visits_since_last', 'user_item_units_per_event',
      'user_item_due_ratio_item',
      'user_item_category_share', 'user_item_category_days_since_last', 'user_item_category_lead_days',
      'user_item_category_rating', 'user_item_brand_share', 'user_item_price_ratio',
      'user_item_times_shown', 'user_item_times_skipped', 'user_item_best_position',
      'sim_profile', 'sim_recent_max', 'sim_recent_mean',
  ] -%}
  {%- for name in candidate_generator_names() -%}
    {%- do features.extend(['gen_' ~ name ~ '_score', 'gen_' ~ name ~ '_rank']) -%}
  {%- endfor -%}
  {%- do features.append('gen_count') -%}
  {%- do features.extend(attribute_feature_names()) -%}
  {{ return(features) }}
{% endmacro %}

{% macro ranker_features() %}
  {{ return(var('ranker_features') or default_ranker_features()) }}
{% endmacro %}

{% macro feature_family(name) %}
  {%- for prefix in ['user_item_', 'item_', 'user_', 'sim_', 'gen_'] -%}
    {%- if name.startswith(prefix) -%}{{ return(prefix[:-1]) }}{%- endif -%}
  {%- endfor -%}
  {{ return('other') }}
{% endmacro %}

{#- categorical: LightGBM splits on sets of values (text attributes); numeric: on thresholds. -#}
{% macro feature_kind(name) %}
  {%- if name.startswith('user_attr_') or name.startswith('item_attr_') -%}categorical{%- else -%}numeric{%- endif -%}
{% endmacro %}
