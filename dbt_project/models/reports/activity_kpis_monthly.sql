{{ config(materialized=report_materialization(), contract={'enforced': target.type == 'duckdb'}) }}
-- One row per calendar month, from the month of the first purchase to the as-of date's: how
-- many customers were active and inactive at its start and end, and how many were new, became
-- inactive or came back during it, under the inactivity rule chosen. Every figure adds up the
-- changes of int_customer_status_changes up to a day: a first purchase or a return makes a
-- customer active, a lapse inactive, so the counts at a month's end are those at its start plus
-- its changes. A view, named without its database (see customer_activity_report).
with changes as (
    select
        change_kind,
        cast({{ dbt.date_trunc('month', 'change_date') }} as date) as month_start
    from {{ ref('int_customer_status_changes').include(database=False) }}
    where
        inactivity_rule = '{{ inactivity_rule() }}'
        and change_date <= {{ as_of_date() }}
),

monthly_changes as (
    select
        month_start,
        count(case when change_kind = 'first_purchase' then 1 end) as new_customers,
        count(case when change_kind = 'became_inactive' then 1 end) as newly_inactive,
        count(case when change_kind = 'reactivated' then 1 end) as reactivated
    from changes
    group by month_start
),

calendar_months as (
    -- Every month from January 1900 to the as-of date's (a month without a change has a row
    -- too); those before the first purchase's are left out below.
    select
        cast({{ dbt.dateadd('month', 'generated_number - 1', "date '1900-01-01'") }} as date)
            as month_start
    from ({{ dbt.generate_series(months_from_1900_to_the_as_of_date()) }}) as month_numbers
),

months as (
    select
        calendar_months.month_start,
        coalesce(monthly_changes.new_customers, 0) as new_customers,
        coalesce(monthly_changes.newly_inactive, 0) as newly_inactive,
        coalesce(monthly_changes.reactivated, 0) as reactivated
    from calendar_months
    left join monthly_changes on calendar_months.month_start = monthly_changes.month_start
    where calendar_months.month_start >= (select min(changes.month_start) from changes)
),

running_counts as (
    select
        *,
        sum(new_customers - newly_inactive + reactivated)
            over (order by month_start rows between unbounded preceding and current row)
            as active_at_end,
        sum(newly_inactive - reactivated)
            over (order by month_start rows between unbounded preceding and current row)
            as inactive_at_end
    from months
),

monthly_kpis as (
    select
        month_start,
        least(
            cast({{ dbt.last_day('month_start', 'month') }} as date), {{ as_of_date() }}
        ) as month_end,
        active_at_end - new_customers + newly_inactive - reactivated as active_at_start,
        inactive_at_end - newly_inactive + reactivated as inactive_at_start,
        new_customers,
        newly_inactive,
        reactivated,
        active_at_end,
        inactive_at_end
    from running_counts
)

select
    {{ as_of_date() }} as as_of_date,
    month_start,
    month_end,
    cast(active_at_start as integer) as active_at_start,
    cast(inactive_at_start as integer) as inactive_at_start,
    cast(new_customers as integer) as new_customers,
    cast(newly_inactive as integer) as newly_inactive,
    cast(reactivated as integer) as reactivated,
    cast(active_at_end as integer) as active_at_end,
    cast(inactive_at_end as integer) as inactive_at_end,
    cast(round(1.0 * reactivated / nullif(inactive_at_start, 0), 4) as decimal(10, 4))
        as recovery_rate,
    cast(round(1.0 * newly_inactive / nullif(active_at_start, 0), 4) as decimal(10, 4))
        as attrition_rate
from monthly_kpis
