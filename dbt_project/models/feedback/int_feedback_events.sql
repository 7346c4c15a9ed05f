-- Feedback on served lists as events of the shop: what a shopper saw (impression, with its
-- position) and did (click, add_to_cart, purchase), for items of the catalog, with a time.
-- Engagement becomes labels in the windows it falls in (int_labels); impressions and skips
-- become point-in-time features (int_user_item_feedback). One row per feedback event.
with
feedback as (select * from {{ ref('stg_feedback_events') }}),
items as (select item_id from {{ ref('int_items_clean') }})

select
    feedback.event_id,
    feedback.request_id,
    feedback.user_id,
    feedback.item_id,
    feedback.event_type,
    feedback.position,
    feedback.event_ts
from feedback
inner join items on feedback.item_id = items.item_id
where feedback.user_id is not null and feedback.event_ts is not null
