-- depends_on: {{ source('raw', 'load_ledger') }}
-- The customers whose purchases and activity this build recomputes (see macros/incremental.sql),
-- and why; a customer may be listed for several reasons. Worked out once per build, after the
-- orders are up to date and before the customer-level models change anything.
{%- set window_days = var('recent_revenue_window_days') | int %}
{%- set previous = previous_build_as_of_date() %}

with customers_of_new_orders as (
    -- Every customer that any version of the new files' orders names.
    select distinct customer_key from {{ ref('int_orders_to_recompute') }}
),

customers_with_orders_across_the_window_edge as (
    -- An order dated in the days that left the trailing revenue window (or came back into it)
    -- between the previous build's as-of date and this one's.
    select distinct customer_key from {{ ref('int_orders') }}
    where
        order_date > least({{ previous }}, {{ as_of_date() }}) - {{ window_days }}
        and order_date <= greatest({{ previous }}, {{ as_of_date() }}) - {{ window_days }}
),

customers_of_new_master_rows as (
    -- A customer extract file that counts now and did not at the previous build: the
    -- customer's master data may have changed.
    select distinct {{ customer_key('customer_id') }} as customer_key
    from {{ source('raw', 'customers') }}
    where _source_file in ({{ new_customer_files_sql() }})
)

select
    customer_key,
    'new_orders' as reason
from customers_of_new_orders
union all
select
    customer_key,
    'revenue_window' as reason
from customers_with_orders_across_the_window_edge
union all
select
    customer_key,
    'master_data' as reason
from customers_of_new_master_rows
