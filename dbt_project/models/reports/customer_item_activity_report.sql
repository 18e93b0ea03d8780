-- One row per customer and item the customer ever had on a visible order line: what each customer
-- used to buy, and which items they stopped buying even while still buying others.
with item_history as (
    select * from {{ ref('int_customer_item_history') }}
),

customer_activity as (
    select * from {{ ref('int_customer_activity') }}
),

items as (
    select * from {{ ref('stg_items') }}
)

select
    {{ as_of_date() }} as as_of_date,
    item_history.customer_id,
    customer_activity.customer_name,
    customer_activity.sales_rep,
    customer_activity.activity_status,
    item_history.item_id,
    items.item_name,
    items.category,
    item_history.first_purchase_date,
    item_history.last_purchase_date,
    date_diff('day', item_history.last_purchase_date, {{ as_of_date() }})::integer
        as days_since_last_purchase,
    item_history.purchase_count::integer as purchase_count,
    item_history.total_quantity::decimal(18, 4) as total_quantity,
    item_history.net_revenue::decimal(18, 2) as net_revenue,
    -- Lapsed: no purchase of this item within the customer's threshold, whatever the customer's
    -- overall status (an item never bought on a purchase order is lapsed too).
    coalesce(
        date_diff('day', item_history.last_purchase_date, {{ as_of_date() }})
        > customer_activity.inactivity_threshold_days,
        true
    ) as item_lapsed
from item_history
inner join customer_activity on item_history.customer_id = customer_activity.customer_id
left join items on item_history.item_id = items.item_id
order by item_history.customer_id, item_history.item_id
