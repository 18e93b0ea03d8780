{{ config(
    materialized='incremental',
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_of_new_orders'},
) }}
-- Each customer's history with each item up to the as-of date, one row per customer and item on
-- a visible order line. Purchase dates and counts come from purchase orders only; quantity and
-- revenue from every visible line, credits included.
with visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where
        {{ is_visible('order_date') }}
        {% if is_incremental() -%}
            and {{ keys_this_build_recomputes() }}
        {%- endif %}
),

orders as (
    select * from {{ ref('int_orders') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

order_items as (
    -- One row per order and item (an order may list an item on several lines), so that
    -- purchases are counted per order without a distinct count per customer and item. Orders
    -- are told apart by their number, a small integer, rather than by their ids' text.
    select
        order_number,
        item_id,
        sum(quantity) as quantity,
        sum(amount) as amount
    from visible_lines
    group by order_number, item_id
)

select
    orders.customer_id,
    orders.customer_key,
    order_items.item_id,
    min(case when orders.is_purchase then orders.order_date end) as first_purchase_date,
    max(case when orders.is_purchase then orders.order_date end) as last_purchase_date,
    count(case when orders.is_purchase then 1 end) as purchase_count,
    sum(order_items.quantity) as total_quantity,
    sum(order_items.amount) as net_revenue
from order_items
inner join orders on order_items.order_number = orders.order_number
group by orders.customer_id, orders.customer_key, order_items.item_id
