{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ customer_item_history_recent_pre_hook() }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- depends_on: {{ ref('int_customer_item_history_recomputed') }}
-- depends_on: {{ ref('int_customer_item_history_base') }}
-- The customer x item rows of the customers recomputed since int_customer_item_history_base
-- last took them in: int_customer_item_history puts them in place of those customers' rows
-- there. A daily build replaces the rows of its customers here, from
-- int_customer_item_history_recomputed, with one row without an item for a customer left with
-- none (an order moved away): its rows in the base must go all the same. Empty after a build
-- that rebuilt the base or moved these rows into it. Each row carries the build that computed it.
-- The two tables go together: a full refresh of this one alone would lose the rows it holds,
-- so refresh both (or everything).
{%- set columns = customer_item_history_columns() %}

{% if is_incremental() and incremental_run_is_safe() -%}
    with recomputed as (
        select * from {{ ref('int_customer_item_history_recomputed') }}
    ),

    customers_left_without_rows as (
        select distinct
            customer_id,
            customer_key
        from {{ ref('int_orders_to_recompute') }}
        where customer_key not in (select recomputed.customer_key from recomputed)
    )

    select
        {{ columns | join(', ') }},
        {{ this_build_number() }} as build_number
    from recomputed
    union all
    select
        {%- for column in columns %}
            {{ column if column in ("customer_id", "customer_key") else "null" }} as {{ column }},
        {%- endfor %}
        {{ this_build_number() }} as build_number
    from customers_left_without_rows
{%- else -%}
    select
        {{ columns | join(', ') }},
        build_number
    from {{ ref('int_customer_item_history_base') }}
    where false
{%- endif %}
