{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild(
        'customer_key', customers_to_recompute_sql(['new_orders', 'revenue_window'])) }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_customers_to_recompute') }}
-- Each customer's purchases and revenue up to the as-of date, one row per customer with a
-- visible order. A build recomputes the customers of new orders and those whose revenue over the
-- trailing window changed with the date (int_customers_to_recompute).
with orders as (
    select * from {{ ref('int_orders') }}
    where
        {{ only_keys_to_rebuild(
            'customer_key', customers_to_recompute_sql(['new_orders', 'revenue_window'])) }}
)

select
    customer_id,
    customer_key,
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
group by customer_id, customer_key
