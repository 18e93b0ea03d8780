{{ config(materialized='view') }}
-- Each customer's history with each item up to the as-of date (the rules are in macros/
-- customer_item_history.sql): the rows of int_customer_item_history_base, but for the customers
-- recomputed since, whose rows are those of int_customer_item_history_recent. A view, so that a
-- daily build writes only the day's customers, and nothing scattered over the whole history.
-- Its relations are named without their database so that the published copy, `reports.duckdb`,
-- which holds tables of the same names, reads this same view (dagster_project/
-- reports_database.py).
{%- set columns = customer_item_history_columns() | join(', ') %}

with base as (
    select * from {{ ref('int_customer_item_history_base').include(database=False) }}
),

recent as (
    select * from {{ ref('int_customer_item_history_recent').include(database=False) }}
)

select {{ columns }} from base
where base.customer_key not in (select recent.customer_key from recent)
union all
-- A row without an item stands for a recomputed customer left with no rows.
select {{ columns }} from recent
where recent.item_id is not null
