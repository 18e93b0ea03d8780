{{ config(materialized=report_materialization(), contract={'enforced': target.type == 'duckdb'}) }}
-- One row per customer and item the customer ever had on a visible order line: what each customer
-- used to buy, and which items they stopped buying even while still buying others.
--
-- A view: the report is about as large as the order history, and only its days since the last
-- purchase and its lapsed flag move with the date. The customer's status is computed by the same
-- rule as in the customer report, so the two always agree. The relations are named without
-- their database so that the published copy, `reports.duckdb`, which holds tables of the same
-- names, reads this same view (see dagster_project/reports_database.py).
with item_history as (
    select
        *,
        {{ dbt.datediff('last_purchase_date', as_of_date(), 'day') }} as days_since_last_purchase
    from {{ ref('int_customer_item_history').include(database=False) }}
),

customer_activity as (
    select
        *,
        {{ customer_threshold_days(
            'billing_cycle', 'purchase_date_count', 'usual_days_between_purchases'
        ) }} as inactivity_threshold_days,
        {{ dbt.datediff('last_purchase_date', as_of_date(), 'day') }} as days_since_last_purchase
    from {{ ref('int_customer_activity').include(database=False) }}
),

items as (
    select * from {{ ref('stg_items').include(database=False) }}
)

select
    {{ as_of_date() }} as as_of_date,
    item_history.customer_id,
    customer_activity.customer_name,
    customer_activity.sales_rep,
    {{ activity_status(
        'customer_activity.last_purchase_date',
        'customer_activity.days_since_last_purchase',
        'customer_activity.inactivity_threshold_days'
    ) }} as activity_status,
    item_history.item_id,
    items.item_name,
    items.category,
    item_history.first_purchase_date,
    item_history.last_purchase_date,
    cast(item_history.days_since_last_purchase as integer) as days_since_last_purchase,
    cast(item_history.purchase_count as integer) as purchase_count,
    cast(item_history.total_quantity as decimal(38, 4)) as total_quantity,
    {{ rounded_to_cents('item_history.net_revenue') }} as net_revenue,
    -- Lapsed: no purchase of this item within the customer's threshold, whatever the customer's
    -- overall status (an item never bought on a purchase order is lapsed too).
    coalesce(
        item_history.days_since_last_purchase > customer_activity.inactivity_threshold_days, true
    ) as item_lapsed,
    -- The item's own rhythm, shown for the items bought often enough to have one.
    case
        when item_history.purchase_date_count >= {{ var('regular_item_min_purchases') | int }}
            then cast(round(item_history.usual_days_between_purchases, 1) as decimal(10, 1))
    end as usual_days_between_purchases,
    {{ item_status(
        'item_history.purchase_date_count',
        'item_history.usual_days_between_purchases',
        'item_history.days_since_last_purchase'
    ) }} as item_status
from item_history
inner join customer_activity on item_history.customer_id = customer_activity.customer_id
left join items on item_history.item_id = items.item_id
