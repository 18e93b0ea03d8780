-- Each customer's history with each item up to the as-of date: one row per customer and item on
-- a visible order line. Purchase dates and counts come from purchase orders only; quantity and
-- revenue from every visible line, credits included.
with visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where {{ is_visible('order_date') }}
),

orders as (
    select * from {{ ref('int_orders') }}
)

select
    visible_lines.customer_id,
    visible_lines.item_id,
    min(orders.order_date) filter (where orders.is_purchase) as first_purchase_date,
    max(orders.order_date) filter (where orders.is_purchase) as last_purchase_date,
    count(distinct visible_lines.order_id) filter (where orders.is_purchase) as purchase_count,
    sum(visible_lines.quantity) as total_quantity,
    sum(visible_lines.amount) as net_revenue
from visible_lines
inner join orders
    on
        visible_lines.order_id = orders.order_id
        and visible_lines.customer_id = orders.customer_id
group by visible_lines.customer_id, visible_lines.item_id
