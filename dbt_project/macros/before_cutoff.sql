{#- The leakage guard. Every point-in-time model decides what it may see through these two
    macros and nothing else: an event counts as of a cutoff only if it happened strictly
    before it and had not been cancelled (returned) before it. -#}
{% macro before_cutoff(ts, cutoff) -%}
    {{ ts }} < {{ cutoff }}
{%- endmacro %}

{% macro visible_at(events, cutoff) -%}
    {{ before_cutoff(events ~ '.event_ts', cutoff) }}
    and ({{ events }}.cancelled_ts is null or not ({{ before_cutoff(events ~ '.cancelled_ts', cutoff) }}))
{%- endmacro %}
