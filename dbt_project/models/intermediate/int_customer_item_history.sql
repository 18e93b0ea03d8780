{{ config(
    materialized=incremental_where_supported(),
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
),

item_orders as (
    -- Each order's items, with the order's customer, date and kind.
    select
        orders.customer_id,
        orders.customer_key,
        orders.order_date,
        orders.is_purchase,
        order_items.item_id,
        order_items.quantity,
        order_items.amount
    from order_items
    inner join orders on order_items.order_number = orders.order_number
),

item_orders_with_gaps as (
    -- Each purchase order's days since the customer's previous purchase order of the item. Orders
    -- on the same day are 0 days apart: the gaps above 0 are those between the item's distinct
    -- purchase dates, its rhythm, as for the customer's, without a pass to make dates distinct.
    select
        *,
        case when is_purchase then {{ dbt.datediff(
            'lag(order_date) over (partition by customer_key, item_id, is_purchase order by order_date)',
            'order_date',
            'day'
        ) }} end as days_since_previous_purchase
    from item_orders
)

select
    customer_id,
    customer_key,
    item_id,
    min(case when is_purchase then order_date end) as first_purchase_date,
    max(case when is_purchase then order_date end) as last_purchase_date,
    count(case when is_purchase then 1 end) as purchase_count,
    sum(quantity) as total_quantity,
    sum(amount) as net_revenue,
    -- The distinct purchase dates: the first, then one more after each gap of a day or more.
    case
        when count(case when is_purchase then 1 end) > 0
            then 1 + count(case when days_since_previous_purchase > 0 then 1 end)
        else 0
    end as purchase_date_count,
    {{ median_of(
        'case when days_since_previous_purchase > 0 then days_since_previous_purchase end'
    ) }} as usual_days_between_purchases
from item_orders_with_gaps
group by customer_id, customer_key, item_id
