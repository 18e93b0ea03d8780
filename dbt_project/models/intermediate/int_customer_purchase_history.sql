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
-- trailing window changed with the date (int_customers_to_recompute). Their orders are scattered
-- over the whole history: a daily build groups them by key alone and takes the ids from that
-- list, so as not to read the id's text of every order it reads (see macros/incremental.sql).
{%- set recomputes_some = is_incremental() and incremental_run_is_safe() %}
{%- set window_days = var('recent_revenue_window_days') | int %}

with orders as (
    select * from {{ ref('int_orders') }}
    where
        {{ only_keys_to_rebuild(
            'customer_key', customers_to_recompute_sql(['new_orders', 'revenue_window'])) }}
),

purchase_history as (
    select
        {% if not recomputes_some -%}
            customer_id,
        {% endif -%}
        customer_key,
        min(order_date) filter (where is_purchase) as first_purchase_date,
        max(order_date) filter (where is_purchase) as last_purchase_date,
        count(*) filter (where is_purchase) as purchase_count,
        sum(net_amount) as lifetime_net_revenue,
        coalesce(
            sum(net_amount) filter (
                where order_date > {{ as_of_date() }} - {{ window_days }}
            ),
            0
        ) as revenue_last_365_days
    from orders
    group by all
)

{% if recomputes_some -%}
    , customer_ids as (
        -- The ids of the daily build's customers.
        {{ customer_ids_by_key(ref('int_customers_to_recompute')) }}
    )

    select
        customer_ids.customer_id,
        purchase_history.*
    from purchase_history
    inner join customer_ids on purchase_history.customer_key = customer_ids.customer_key
{%- else -%}
    select * from purchase_history
{%- endif %}
