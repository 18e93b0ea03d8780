{{ config(
    materialized='incremental',
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_with_changed_purchases'},
) }}
-- Each customer's purchases and revenue up to the as-of date, one row per customer with a
-- visible order.
with orders as (
    select * from {{ ref('int_orders') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
)

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
