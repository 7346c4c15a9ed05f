{#- An event's label grade by its type (var event_weights; other types: 1): one rule for the
    interaction log and for feedback on served lists. -#}
{% macro event_grade(event_type) %}
    case {{ event_type }}
        {%- for event_type_name, weight in var('event_weights').items() %}
        when {{ sql_string(event_type_name, 'event_weights') }} then {{ sql_number(weight, 'event_weights') }}
        {%- endfor %}
        else 1
    end
{%- endmacro %}
