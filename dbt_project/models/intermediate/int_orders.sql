{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild('order_id', orders_in_new_files_sql()) }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- One row per order visible at the as-of date, and whether it is a purchase (the rules are
-- order_facts_from_lines and is_purchase_order, in macros/business_rules.sql).
with visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where
        {{ is_visible('order_date') }}
        and {{ only_keys_to_rebuild('order_id', orders_in_new_files_sql()) }}
),

orders as (
    select
        order_id,
        -- An order belongs to one customer. The load quarantines the lines of an order that
        -- names two in one file (extracts.py), and a file's version of an order replaces the
        -- others whole, so this stops the build only on rows the load did not check; checked
        -- here, on the orders this build computes, rather than by a test reading every order.
        case
            when min(customer_id) = max(customer_id) then min(customer_id)
            else error(
                'order ' || order_id || ' names two customers on its lines: '
                || min(customer_id) || ' and ' || max(customer_id)
                || ' (every line of an order must name the same customer)'
            )
        end as customer_id,
        {{ order_facts_from_lines() }},
        count(*) as line_count
    from visible_lines
    group by order_id
)

select
    order_id,
    customer_id,
    customer_key,
    order_date,
    order_type,
    net_amount,
    line_count,
    {{ is_purchase_order('order_type', 'net_amount') }} as is_purchase
from orders
