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

item_totals as (
    select
        customer_id,
        customer_key,
        item_id,
        min(case when is_purchase then order_date end) as first_purchase_date,
        max(case when is_purchase then order_date end) as last_purchase_date,
        count(case when is_purchase then 1 end) as purchase_count,
        sum(quantity) as total_quantity,
        sum(amount) as net_revenue
    from item_orders
    group by customer_id, customer_key, item_id
),

item_purchase_dates as (
    -- The distinct dates a customer bought the item on: its rhythm, as for the customer's.
    select distinct
        customer_key,
        item_id,
        order_date as purchase_date
    from item_orders
    where is_purchase
),

item_purchase_gaps as (
    select
        customer_key,
        item_id,
        {{ dbt.datediff(
            'lag(purchase_date) over (partition by customer_key, item_id order by purchase_date)',
            'purchase_date',
            'day'
        ) }} as days_since_previous_purchase
    from item_purchase_dates
),

item_rhythms as (
    select
        customer_key,
        item_id,
        count(*) as purchase_date_count,
        {{ median_of('days_since_previous_purchase') }} as usual_days_between_purchases
    from item_purchase_gaps
    group by customer_key, item_id
)

select
    item_totals.*,
    coalesce(item_rhythms.purchase_date_count, 0) as purchase_date_count,
    item_rhythms.usual_days_between_purchases
from item_totals
left join item_rhythms
    on
        item_totals.customer_key = item_rhythms.customer_key
        and item_totals.item_id = item_rhythms.item_id
