{#- The customer x item history, for the customers that `customer_filter` keeps (a condition on
    `customer_key`): each customer's history with each item up to the as-of date, one row per
    customer and item on a visible order line. Purchase dates and counts come from purchase
    orders only; quantity and revenue from every visible line, credits included.

    A full build computes it for every customer (int_customer_item_history); a daily build only
    for the customers of the new files' orders (int_customer_item_history_recomputed), whose
    rows then replace theirs in int_customer_item_history and in the published copy. -#}
{% macro customer_item_history_sql(customer_filter) -%}
with visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where
        {{ is_visible('order_date') }}
        and {{ customer_filter }}
),

orders as (
    select * from {{ ref('int_orders') }}
    where {{ customer_filter }}
),

order_items as (
    -- One row per order and item (an order may list an item on several lines), so that
    -- purchases are counted per order without a distinct count per customer and item.
    select
        order_id,
        customer_id,
        customer_key,
        item_id,
        sum(quantity) as quantity,
        sum(amount) as amount
    from visible_lines
    group by order_id, customer_id, customer_key, item_id
)

select
    order_items.customer_id,
    order_items.customer_key,
    order_items.item_id,
    min(orders.order_date) filter (where orders.is_purchase) as first_purchase_date,
    max(orders.order_date) filter (where orders.is_purchase) as last_purchase_date,
    count(*) filter (where orders.is_purchase) as purchase_count,
    sum(order_items.quantity) as total_quantity,
    sum(order_items.amount) as net_revenue
from order_items
inner join orders
    on
        order_items.order_id = orders.order_id
        and order_items.customer_id = orders.customer_id
group by order_items.customer_id, order_items.customer_key, order_items.item_id
{%- endmacro %}
