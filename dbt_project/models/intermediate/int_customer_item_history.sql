{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild('customer_key', customers_of_orders_in_new_files_sql()) }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- depends_on: {{ ref('int_customer_item_history_recomputed') }}
-- Each customer's history with each item up to the as-of date (the rules are in
-- macros/customer_item_history.sql). A daily build replaces the rows of the customers it
-- recomputed, from int_customer_item_history_recomputed; any other build computes them all.
{% if is_incremental() and incremental_run_is_safe() -%}
    select * from {{ ref('int_customer_item_history_recomputed') }}  -- noqa: AM04
{%- else -%}
    {{ customer_item_history_sql('true') }}
{%- endif %}
