-- The ranker's feature list, in order (macro ranker_features): what `recsql train` reads so it
-- never hard-codes features. One row per feature.
with
features as (
    {% for name in ranker_features() -%}
    select
        '{{ name }}' as feature_name,
        '{{ feature_family(name) }}' as family,
        {{ loop.index }} as position
    {{ 'union all' if not loop.last }}
    {% endfor %}
)

select * from features
