{{ config(materialized=report_materialization()) }}
-- Does the inactivity flag predict silence? For every month end E from the first purchase's to
-- the last one at least `backtest_horizon_days` (H) before the as-of date, and each rule: the
-- customers who had bought by E, those flagged inactive on E, how many of those then bought
-- nothing in (E, E + H], and how many active ones bought nothing either. The counts are the
-- running sums of each customer's month-end changes (int_customer_backtest_changes).
with changes as (
    select * from {{ ref('int_customer_backtest_changes').include(database=False) }}
),

changes_by_month_end as (
    select
        inactivity_rule,
        month_end,
        sum(customers) as customers,
        sum(flagged) as flagged,
        sum(flagged_silent) as flagged_silent,
        sum(unflagged_silent) as unflagged_silent
    from changes
    group by inactivity_rule, month_end
),

calendar_month_ends as (
    select
        cast({{ dbt.last_day(
            dbt.dateadd('month', 'generated_number - 1', "date '1900-01-01'"), 'month'
        ) }} as date) as month_end
    from ({{ dbt.generate_series(months_from_1900_to_the_as_of_date()) }}) as month_numbers
),

month_ends as (
    select month_end
    from calendar_month_ends
    where
        month_end >= (select min(changes.month_end) from changes)
        and month_end <= cast({{ dbt.dateadd(
            'day', -(var('backtest_horizon_days') | int), as_of_date()
        ) }} as date)
),

inactivity_rules as (
    select rules.inactivity_rule
    from {{ inactivity_rules() }}
),

counts as (
    select
        inactivity_rules.inactivity_rule,
        month_ends.month_end,
        sum(coalesce(changes_by_month_end.customers, 0)) over rule_up_to_month_end as customers,
        sum(coalesce(changes_by_month_end.flagged, 0)) over rule_up_to_month_end as flagged,
        sum(coalesce(changes_by_month_end.flagged_silent, 0)) over rule_up_to_month_end
            as flagged_silent,
        sum(coalesce(changes_by_month_end.unflagged_silent, 0)) over rule_up_to_month_end
            as unflagged_silent
    from month_ends
    cross join inactivity_rules
    left join changes_by_month_end
        on
            inactivity_rules.inactivity_rule = changes_by_month_end.inactivity_rule
            and month_ends.month_end = changes_by_month_end.month_end
    window rule_up_to_month_end as (
        partition by inactivity_rules.inactivity_rule
        order by month_ends.month_end
        rows between unbounded preceding and current row
    )
)

select
    {{ as_of_date() }} as as_of_date,
    inactivity_rule,
    month_end,
    {{ var('backtest_horizon_days') | int }} as horizon_days,
    cast(customers as integer) as customers,
    cast(flagged as integer) as flagged,
    cast(flagged_silent as integer) as flagged_silent,
    cast(unflagged_silent as integer) as unflagged_silent,
    -- The names the backtest's users know the two measures by.
    cast(round(1.0 * flagged_silent / nullif(flagged, 0), 4) as decimal(10, 4))
        as precision,  -- noqa: RF04
    cast(
        round(1.0 * flagged_silent / nullif(flagged_silent + unflagged_silent, 0), 4)
        as decimal(10, 4)
    ) as recall
from counts
