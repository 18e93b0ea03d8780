{{ config(materialized=report_materialization()) }}
-- Whom each sales rep should call first: the customers at risk (still active, but quieter than
-- usual for them) and the inactive ones, ranked within each rep by the revenue they brought in
-- the year up to their last purchase. The relations are named without their database, so that
-- the published copy, reports.duckdb, reads this same view (dagster_project/reports_database.py).
with customers_to_win_back as (
    select
        as_of_date,
        -- A rep written with stray spaces is the same rep; a blank one is none.
        nullif(trim(sales_rep), '') as sales_rep,
        customer_id,
        customer_name,
        email,
        segment,
        lifecycle_stage,
        revenue_at_risk,
        last_purchase_date,
        days_since_last_purchase,
        expected_next_purchase_date,
        status_reason
    from {{ ref('customer_activity_report').include(database=False) }}
    where lifecycle_stage in ('at_risk', 'inactive')
),

usual_items as (
    select * from {{ ref('int_customer_usual_items').include(database=False) }}
),

lapsed_regular_items as (
    -- What a customer at risk has stopped buying while still buying: the items they bought
    -- regularly and have not bought for longer than their rhythm allows, most revenue first.
    select
        item_history.customer_id,
        {{ dbt.listagg(
            'coalesce(items.item_name, item_history.item_id)',
            "'; '",
            'order by item_history.net_revenue desc, item_history.item_id asc'
        ) }} as lapsed_regular_items
    from {{ ref('int_customer_item_history').include(database=False) }} as item_history
    inner join customers_to_win_back
        on
            item_history.customer_id = customers_to_win_back.customer_id
            and customers_to_win_back.lifecycle_stage = 'at_risk'
    left join {{ ref('stg_items').include(database=False) }} as items
        on item_history.item_id = items.item_id
    where
        -- Regular items only, tested first: a plain comparison that spares the status of the
        -- other rows, nearly all of the history.
        item_history.purchase_date_count >= {{ var('regular_item_min_purchases') | int }}
        and {{ item_status(
            'item_history.purchase_date_count',
            'item_history.usual_days_between_purchases',
            dbt.datediff('item_history.last_purchase_date', as_of_date(), 'day')
        ) }} = 'lapsed'
    group by item_history.customer_id
)

select
    customers_to_win_back.as_of_date,
    customers_to_win_back.sales_rep,
    cast(row_number() over (
        partition by customers_to_win_back.sales_rep
        order by customers_to_win_back.revenue_at_risk desc, customers_to_win_back.customer_id asc
    ) as integer) as rank_within_rep,
    customers_to_win_back.customer_id,
    customers_to_win_back.customer_name,
    customers_to_win_back.email,
    customers_to_win_back.segment,
    customers_to_win_back.lifecycle_stage,
    customers_to_win_back.revenue_at_risk,
    customers_to_win_back.last_purchase_date,
    customers_to_win_back.days_since_last_purchase,
    customers_to_win_back.expected_next_purchase_date,
    customers_to_win_back.status_reason,
    usual_items.items_they_used_to_buy,
    lapsed_regular_items.lapsed_regular_items
from customers_to_win_back
left join usual_items on customers_to_win_back.customer_id = usual_items.customer_id
left join lapsed_regular_items
    on customers_to_win_back.customer_id = lapsed_regular_items.customer_id
