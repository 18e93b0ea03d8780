{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_with_changed_recent_revenue'},
) }}
-- Each customer's purchases and revenue up to the as-of date, one row per customer with a
-- visible order.
with orders as (
    select * from {{ ref('int_orders') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

purchase_totals as (
    select
        customer_key,
        min(customer_id) as customer_id,
        min(case when is_purchase then order_date end) as first_purchase_date,
        max(case when is_purchase then order_date end) as last_purchase_date,
        count(case when is_purchase then 1 end) as purchase_count,
        sum(net_amount) as lifetime_net_revenue,
        coalesce(
            sum(case when {{ is_within_recent_revenue_window('order_date') }} then net_amount end),
            0
        ) as revenue_last_365_days
    from orders
    group by customer_key
),

revenue_at_risk as (
    -- What a customer who stops buying takes with them: the net revenue of their orders in the
    -- window that ends on (and includes) their last purchase. Anchored on the last purchase,
    -- not on the as-of date, so it does not shrink while the customer stays away.
    select
        orders.customer_key,
        sum(orders.net_amount) as revenue_at_risk
    from orders
    inner join purchase_totals on orders.customer_key = purchase_totals.customer_key
    where
        orders.order_date <= purchase_totals.last_purchase_date
        and orders.order_date > cast({{ dbt.dateadd(
            'day',
            -(var('recent_revenue_window_days') | int),
            'purchase_totals.last_purchase_date'
        ) }} as date)
    group by orders.customer_key
),

latest_purchase_dates as (
    -- Each customer's last purchase date: its number is how many they have, its usual gap the
    -- median of them all.
    select
        customer_key,
        purchase_number as purchase_date_count,
        usual_days_between_purchases
    from {{ ref('int_customer_purchase_dates') }}
    where
        next_purchase_date is null
        {% if is_incremental() -%}
            and {{ keys_this_build_recomputes() }}
        {%- endif %}
)

select
    purchase_totals.*,
    coalesce(latest_purchase_dates.purchase_date_count, 0) as purchase_date_count,
    latest_purchase_dates.usual_days_between_purchases,
    coalesce(revenue_at_risk.revenue_at_risk, 0) as revenue_at_risk
from purchase_totals
left join latest_purchase_dates on purchase_totals.customer_key = latest_purchase_dates.customer_key
left join revenue_at_risk on purchase_totals.customer_key = revenue_at_risk.customer_key
