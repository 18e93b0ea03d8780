{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ forget_old_history_changes() }}"
) }}
-- Incremental: see macros/incremental.sql.
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- depends_on: {{ ref('int_customer_item_history') }}
-- It numbers the builds, and int_customer_activity stamps its rows with the number of this one
-- before it is logged (macro this_build_number):
-- depends_on: {{ ref('int_customer_activity') }}
-- Which customers' rows of int_customer_item_history each build replaced. The published copy of
-- that table (in reports.duckdb) applies only these changes to yesterday's copy instead of
-- rewriting it whole. Each build adds one row without a customer (its number, and whether it
-- recomputed everything), then one row per customer it recomputed.
{%- set rebuilt_everything = not (is_incremental() and incremental_run_is_safe()) %}

with this_build as (
    select
        {{ this_build_number() }} as build_number,
        '{{ invocation_id }}' as build_id
),

customers_recomputed as (
    {% if rebuilt_everything -%}
        select
            null::varchar as customer_id,
            null::ubigint as customer_key
        where false
    {%- else -%}
        select distinct
            customer_id,
            customer_key
        from {{ ref('int_orders_to_recompute') }}
    {%- endif %}
)

select
    build_number,
    build_id,
    {{ rebuilt_everything }} as rebuilt_everything,
    null::varchar as customer_id,
    null::ubigint as customer_key
from this_build
union all
select
    this_build.build_number,
    this_build.build_id,
    false as rebuilt_everything,
    customers_recomputed.customer_id,
    customers_recomputed.customer_key
from this_build
cross join customers_recomputed
