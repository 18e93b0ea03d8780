-- depends_on: {{ source('raw', 'load_ledger') }}
-- A daily build finds the orders that left the revenue window among the lines (see below):
-- depends_on: {{ ref('int_order_lines_current') }}
-- The customers whose purchases and activity this build recomputes (see macros/incremental.sql),
-- and why; a customer may be listed for several reasons. Worked out once per build, after the
-- orders are up to date and before the customer-level models change anything.
{%- set window_days = var('recent_revenue_window_days') | int %}
{%- set previous = previous_build_as_of_date() %}
{#- The previous build's purchase history, when this build may recompute only some customers
    of it (else the list is not read). -#}
{%- set known_customers = relation_beside_this('int_customer_purchase_history')
    if incremental_run_is_safe(for_model='int_customer_purchase_history') else none %}
{#- An order dated in the days that left the trailing revenue window (or came back into it)
    between the previous build's as-of date and this one's. -#}
{%- set across_the_window_edge -%}
    order_date > least({{ previous }}, {{ as_of_date() }}) - {{ window_days }}
        and order_date <= greatest({{ previous }}, {{ as_of_date() }}) - {{ window_days }}
{%- endset %}

with customers_of_new_orders as (
    -- Every customer that any version of the new files' orders names.
    select distinct
        customer_id,
        customer_key
    from {{ ref('int_orders_to_recompute') }}
),

customers_with_orders_across_the_window_edge as (
    {%- if known_customers is none %}
        select distinct
            customer_id,
            customer_key
        from {{ ref('int_orders') }}
        where {{ across_the_window_edge }}
    {%- else %}
        -- Their ids come from the previous build's purchase history, where each of them is (an
        -- order new in this build is listed above): those orders are scattered over the whole
        -- history, and reading their ids' text took twice the rest of this model at 30M lines.
        select
            known_customers.customer_id,
            known_customers.customer_key
        from {{ known_customers }} as known_customers
        where known_customers.customer_key in (
            -- Found among the order lines, which lie about in the order the extracts came in,
            -- so that DuckDB skips the blocks of other dates (int_orders is in no date order:
            -- 0.20 s against 0.08 s at 30M lines). An order's date is the earliest of its lines,
            -- so each such order has a line in those days: an order with only a later line there
            -- adds its customer to the list needlessly, and none is left out.
            select customer_key from {{ ref('int_order_lines_current') }}
            where {{ across_the_window_edge }}
        )
    {%- endif %}
),

customers_of_new_master_rows as (
    -- A customer extract file that counts now and did not at the previous build: the
    -- customer's master data may have changed.
    select distinct
        customer_id,
        {{ customer_key('customer_id') }} as customer_key
    from {{ source('raw', 'customers') }}
    where _source_file in ({{ new_master_files_sql('customers') }})
)

select
    customer_id,
    customer_key,
    'new_orders' as reason
from customers_of_new_orders
union all
select
    customer_id,
    customer_key,
    'revenue_window' as reason
from customers_with_orders_across_the_window_edge
union all
select
    customer_id,
    customer_key,
    'master_data' as reason
from customers_of_new_master_rows
