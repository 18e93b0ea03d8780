-- Each customer's purchases and revenue up to the as-of date, one row per customer with a
-- visible order.
with orders as (
    select * from {{ ref('int_orders') }}
)

select
    customer_id,
    min(order_date) filter (where is_purchase) as first_purchase_date,
    max(order_date) filter (where is_purchase) as last_purchase_date,
    count(*) filter (where is_purchase) as purchase_count,
    sum(net_amount) as lifetime_net_revenue,
    coalesce(
        sum(net_amount) filter (
            where order_date > {{ as_of_date() }} - {{ var('recent_revenue_window_days') | int }}
        ),
        0
    ) as revenue_last_365_days
from orders
group by customer_id
