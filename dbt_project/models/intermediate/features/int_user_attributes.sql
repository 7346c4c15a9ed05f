-- Each user's mapped attributes (var user_attributes): one row per user of the users file; a
-- user listed twice keeps the smallest value of each. Attributes carry no time, so every
-- snapshot sees the same ones.
{%- set attributes = attribute_features('user_attributes') %}

with
users as (select * from {{ ref('stg_users') }} where user_id is not null)

select
    user_id
    {%- for attribute in attributes %},
    min({{ attribute.feature }}) as {{ attribute.feature }}
    {%- endfor %}
from users
group by user_id
