{{ config(materialized=report_materialization(), contract={'enforced': target.type == 'duckdb'}) }}
-- One row per customer: who is active, who is at risk, who has lapsed since when, why, and what
-- they were worth.
--
-- A view over int_customer_activity: the status, the days since the last purchase and
-- `inactive_since` move with the date, so they are computed here, when read, and no build
-- rewrites a row for them (the rules are macros of macros/business_rules.sql). The as-of date is
-- written into the view by the build that created it, with the table. Its relation is named
-- without its database so that the published copy, `reports.duckdb`, which holds a table of the
-- same name, reads this same view (see dagster_project/reports_database.py).
with customer_activity as (
    select * from {{ ref('int_customer_activity').include(database=False) }}
),

customers as (
    select
        *,
        {{ as_of_date() }} as as_of_date,
        {{ customer_threshold_days(
            'billing_cycle', 'purchase_date_count', 'usual_days_between_purchases'
        ) }} as inactivity_threshold_days,
        {{ threshold_rule('purchase_date_count') }} as threshold_rule,
        {{ dbt.datediff('last_purchase_date', as_of_date(), 'day') }} as days_since_last_purchase,
        cast(round(usual_days_between_purchases, 1) as decimal(10, 1)) as usual_days_rounded
    from customer_activity
),

customer_statuses as (
    select
        *,
        {{ activity_status(
            'last_purchase_date', 'days_since_last_purchase', 'inactivity_threshold_days'
        ) }} as activity_status,
        {{ inactive_since(
            'last_purchase_date', 'days_since_last_purchase', 'inactivity_threshold_days'
        ) }} as inactive_since,
        {{ lifecycle_stage(
            'last_purchase_date', 'days_since_last_purchase', 'inactivity_threshold_days'
        ) }} as lifecycle_stage
    from customers
)

select
    as_of_date,
    customer_id,
    customer_name,
    email,
    sales_rep,
    segment,
    billing_cycle,
    first_purchase_date,
    last_purchase_date,
    cast(days_since_last_purchase as integer) as days_since_last_purchase,
    cast(purchase_count as integer) as purchase_count,
    {{ rounded_to_cents('lifetime_net_revenue') }} as lifetime_net_revenue,
    {{ rounded_to_cents('revenue_last_365_days') }} as revenue_last_365_days,
    {{ rounded_to_cents('revenue_at_risk') }} as revenue_at_risk,
    cast(round(avg_days_between_purchases, 1) as decimal(10, 1)) as avg_days_between_purchases,
    usual_days_rounded as usual_days_between_purchases,
    cast(
        {{ dbt.dateadd(
            'day', 'cast(round(usual_days_between_purchases) as integer)', 'last_purchase_date'
        ) }} as date
    ) as expected_next_purchase_date,
    threshold_rule,
    cast(inactivity_threshold_days as integer) as inactivity_threshold_days,
    inactive_since,
    activity_status,
    activity_status = 'inactive' as is_inactive,
    lifecycle_stage,
    case
        when last_purchase_date is null then 'no purchase on record'
        else
            case
                when days_since_last_purchase = 0 then 'bought on the as-of date'
                when days_since_last_purchase = 1 then 'no purchase for 1 day'
                else
                    'no purchase for '
                    || cast(days_since_last_purchase as {{ dbt.type_string() }}) || ' days'
            end
            || case
                when usual_days_rounded is null then ''
                when usual_days_rounded = floor(usual_days_rounded)
                    then
                        '; usually buys every '
                        || cast(cast(usual_days_rounded as integer) as {{ dbt.type_string() }})
                        || ' days'
                else
                    '; usually buys every '
                    || cast(usual_days_rounded as {{ dbt.type_string() }}) || ' days'
            end
            || '; inactive after '
            || cast(inactivity_threshold_days as {{ dbt.type_string() }})
    end as status_reason
from customer_statuses
