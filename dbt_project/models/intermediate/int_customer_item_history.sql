{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_of_new_orders'},
    contract={'enforced': target.type == 'duckdb'},
    on_schema_change='append_new_columns',
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

item_lines as (
    -- Each line with its order's customer, date and kind, in the order the customer bought the
    -- item: an order may list an item on several lines, which count as one purchase (its first
    -- line in the order); purchase orders on the same day are 0 days apart, so the gaps above 0
    -- are those between the item's distinct purchase dates, its rhythm, as for the customer's.
    -- Orders are told apart by their number, a small integer, rather than by their ids' text.
    select
        orders.customer_id,
        orders.customer_key,
        orders.order_date,
        orders.is_purchase,
        visible_lines.item_id,
        visible_lines.quantity,
        visible_lines.amount,
        coalesce(
            visible_lines.order_number != lag(visible_lines.order_number) over customer_item,
            true
        ) as is_first_line_of_order,
        case when orders.is_purchase then {{ dbt.datediff(
            'lag(orders.order_date) over customer_item', 'orders.order_date', 'day'
        ) }} end as days_since_previous_purchase
    from visible_lines
    inner join orders on visible_lines.order_number = orders.order_number
    window customer_item as (
        partition by orders.customer_key, visible_lines.item_id, orders.is_purchase
        order by orders.order_date, visible_lines.order_number
    )
)

select
    customer_id,
    customer_key,
    item_id,
    min(case when is_purchase then order_date end) as first_purchase_date,
    max(case when is_purchase then order_date end) as last_purchase_date,
    count(case when is_purchase and is_first_line_of_order then 1 end) as purchase_count,
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
from item_lines
group by customer_id, customer_key, item_id
