{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild('customer_key', customers_of_orders_in_new_files_sql()) }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- depends_on: {{ ref('int_customer_item_history') }}
-- depends_on: {{ ref('int_customer_item_history_recomputed') }}
-- The items each customer spent most on (var call_list_items: five), among those bought on a
-- purchase order: what the call list says they used to buy. Kept from one build to the next,
-- like the history it ranks, so that the call list does not read the whole customer x item
-- history every day. A daily build ranks the rows it recomputed; any other build ranks the
-- whole history.
select
    customer_id,
    customer_key,
    item_id,
    net_revenue,
    row_number() over (
        partition by customer_id order by net_revenue desc, item_id asc
    ) as revenue_rank
{% if is_incremental() and incremental_run_is_safe() -%}
    from {{ ref('int_customer_item_history_recomputed') }}
{%- else -%}
    from {{ ref('int_customer_item_history') }}
{%- endif %}
where purchase_count > 0
qualify revenue_rank <= {{ var('call_list_items') | int }}
