{{ config(meta={"dagster": {"ref": {"name": "activity_kpis_monthly"}}}) }}
-- The monthly KPIs add up: each month ends with the counts it started with plus its changes,
-- starts where the month before ended, and the last month ends with the statuses that the
-- customer report gives on the as-of date, which it computes apart, from each customer's last
-- purchase. A row returned here is a month whose figures a sales manager could not trust.
with kpis as (
    select
        *,
        lag(active_at_end) over (order by month_start) as active_at_previous_end,
        lag(inactive_at_end) over (order by month_start) as inactive_at_previous_end,
        max(month_start) over () as last_month_start
    from {{ ref('activity_kpis_monthly') }}
),

statuses_on_the_as_of_date as (
    select
        count(case when activity_status = 'active' then 1 end) as active,
        count(case when activity_status = 'inactive' then 1 end) as inactive
    from {{ ref('customer_activity_report') }}
)

select
    kpis.month_start,
    'the month does not add up' as failure
from kpis
where
    kpis.active_at_end
    != kpis.active_at_start + kpis.new_customers - kpis.newly_inactive + kpis.reactivated
    or kpis.inactive_at_end != kpis.inactive_at_start + kpis.newly_inactive - kpis.reactivated
union all
select
    kpis.month_start,
    'the month does not start where the month before ended' as failure
from kpis
where
    kpis.active_at_start != coalesce(kpis.active_at_previous_end, 0)
    or kpis.inactive_at_start != coalesce(kpis.inactive_at_previous_end, 0)
union all
select
    kpis.month_start,
    'the last month ends with other statuses than the customer report gives' as failure
from kpis
cross join statuses_on_the_as_of_date
where
    kpis.month_start = kpis.last_month_start
    and (
        kpis.active_at_end != statuses_on_the_as_of_date.active
        or kpis.inactive_at_end != statuses_on_the_as_of_date.inactive
    )
