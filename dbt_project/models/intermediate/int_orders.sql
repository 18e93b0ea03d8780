{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild('order_id', orders_in_new_files_sql()) }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- One row per order visible at the as-of date, and whether it is a purchase.
-- An order's date is the earliest date among its visible lines, its type that of its first line.
-- A purchase is an order of a purchase type (invoice, sales receipt) whose net amount, the sum of
-- its visible lines, is above zero; other orders still count in net revenue.
with visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where
        {{ is_visible('order_date') }}
        and {{ only_keys_to_rebuild('order_id', orders_in_new_files_sql()) }}
),

orders as (
    select
        order_id,
        -- An order belongs to one customer. Checked here, on the orders this build computes,
        -- rather than by a uniqueness test reading every order of the history every day.
        case
            when min(customer_id) = max(customer_id) then min(customer_id)
            else error(
                'order ' || order_id || ' names two customers on its lines: '
                || min(customer_id) || ' and ' || max(customer_id)
                || ' (every line of an order must name the same customer)'
            )
        end as customer_id,
        min(customer_key) as customer_key,
        min(order_date) as order_date,
        arg_min(order_type, line_number) as order_type,
        sum(amount) as net_amount,
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
    {{ is_purchase_order_type('order_type') }} and net_amount > 0 as is_purchase
from orders
