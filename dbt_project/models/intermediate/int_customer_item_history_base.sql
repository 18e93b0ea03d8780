{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ customer_item_history_base_pre_hook() }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- The bulk of the customer x item history (int_customer_item_history, the view that readers
-- use, is this table with the rows of int_customer_item_history_recent put in place of their
-- customers'). A build from scratch computes every customer here (macros/
-- customer_item_history.sql). A daily build leaves it alone: the customers it recomputes go to
-- int_customer_item_history_recent, so that no daily build deletes rows scattered over a table
-- as large as the order history, here or in the published copy. Once the recent rows grow past
-- a share of this table (var recent_customer_item_history_share), a build moves them here: it
-- reads that table as the previous build left it, before it takes the day's customers (so it
-- names it without ref, which would make it build first).
{%- set way = customer_item_history_base_way() %}
{%- set columns = customer_item_history_columns() | join(', ') %}

{% if way == 'absorb' -%}
    select
        {{ columns }},
        {{ this_build_number() }} as build_number
    from {{ customer_item_history_recent_relation() }}
    where item_id is not null
{%- elif way == 'keep' -%}
    select
        {{ columns }},
        build_number
    from {{ this }}
    where false
{%- else -%}
    select
        {{ columns }},
        {{ this_build_number() }} as build_number
    from ({{ customer_item_history_sql('true') }}) as customer_item_history
{%- endif %}
