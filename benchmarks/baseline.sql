-- The baseline: the reports computed from the raw extract files by DuckDB alone, in one script,
-- with the same rules as the dbt models but none of the pipeline around them (no validation,
-- quarantine, ledger, lineage columns, orchestration, incremental builds). It is the lower bound
-- the benchmark compares the pipeline with, and the independent answer the property test and the
-- benchmark hold every build's reports to. `$as_of_date`, `$purchase_order_types` and
-- `$inactivity_rule` (the dbt vars) and the readers of the extract files (`$read_orders`,
-- `$read_customers`, `$read_items`: CSV or Parquet, typed as the contract says) are filled in by
-- bench.py. The other settings are the dbt project's defaults, written out here.

create or replace temp table order_lines as
select
    order_id,
    order_date,
    customer_id,
    item_id,
    line_number,
    quantity::decimal(18, 4) as quantity,
    amount::decimal(18, 4) as amount,
    lower(coalesce(order_type, 'invoice')) as order_type,
    parse_filename(filename) as source_file
from $read_orders;

-- Latest extract wins, among the files extracted by the as-of date; then only visible lines.
create or replace temp table visible_lines as
select * from (
    select *
    from order_lines
    where coalesce(
        try_cast(regexp_extract(source_file, '^.*([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date)
            <= date '$as_of_date',
        true
    )
    qualify source_file = max(source_file) over (partition by order_id)
)
where order_date <= date '$as_of_date';

create or replace temp table orders as
select
    order_id,
    customer_id,
    min(order_date) as order_date,
    sum(amount) as net_amount,
    arg_min(order_type, line_number) in ($purchase_order_types) and sum(amount) > 0
        as is_purchase
from visible_lines
group by order_id, customer_id;

-- Latest extract wins for the masters too, among the files extracted by the as-of date.
create or replace temp table customer_master as
select * exclude (filename, rank)
from (
    select
        *,
        row_number() over (partition by customer_id order by filename desc) as rank
    from $read_customers
    where coalesce(
        try_cast(
            regexp_extract(parse_filename(filename), '^.*([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date
        ) <= date '$as_of_date',
        true
    )
)
where rank = 1;

create or replace temp table item_master as
select * exclude (filename, rank)
from (
    select *, row_number() over (partition by item_id order by filename desc) as rank
    from $read_items
    where coalesce(
        try_cast(
            regexp_extract(parse_filename(filename), '^.*([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date
        ) <= date '$as_of_date',
        true
    )
)
where rank = 1;

create or replace temp table customer_activity as
with purchases as (
    select
        customer_id,
        min(order_date) filter (where is_purchase) as first_purchase_date,
        max(order_date) filter (where is_purchase) as last_purchase_date,
        count(*) filter (where is_purchase) as purchase_count,
        sum(net_amount) as lifetime_net_revenue,
        coalesce(
            sum(net_amount) filter (where order_date > date '$as_of_date' - 365), 0
        ) as revenue_last_365_days
    from orders
    group by customer_id
),

customers as (
    select
        coalesce(m.customer_id, p.customer_id) as customer_id,
        m.customer_name,
        m.email,
        m.sales_rep,
        m.segment,
        lower(nullif(trim(m.billing_cycle), '')) as billing_cycle,
        p.* exclude (customer_id)
    from customer_master as m
    full outer join purchases as p on m.customer_id = p.customer_id
)

select
    *,
    case billing_cycle
        when 'weekly' then 28 when 'monthly' then 90 when 'quarterly' then 180
        when 'annual' then 400 else 90
    end as inactivity_threshold_days,
    date_diff('day', last_purchase_date, date '$as_of_date') as days_since_last_purchase
from customers;

-- Each customer's distinct purchase dates, the days since the previous one, and the median of
-- those days up to each date: the rhythm the adaptive rule fits the threshold to.
create or replace temp table purchase_dates as
with dates as (
    select distinct customer_id, order_date as purchase_date from orders where is_purchase
)
select
    customer_id,
    purchase_date,
    row_number() over customer_dates as purchase_number,
    lead(purchase_date) over customer_dates as next_purchase_date,
    purchase_date - lag(purchase_date) over customer_dates as days_since_previous
from dates
window customer_dates as (partition by customer_id order by purchase_date);

create or replace temp table purchase_gaps as
select
    d.*,
    median(d.days_since_previous) over (
        partition by d.customer_id order by d.purchase_date
        rows between unbounded preceding and current row
    ) as median_gap_so_far,
    a.inactivity_threshold_days as billing_cycle_threshold
from purchase_dates as d
inner join customer_activity as a on d.customer_id = a.customer_id;

-- The threshold after each purchase date under each rule: the adaptive rule (at least 4 purchase
-- dates so far) takes 3 times the median gap so far, rounded up, between 14 days and the billing
-- cycle's threshold. The reports show the rule chosen; the backtest both.
create or replace temp table thresholds_by_rule as
select
    g.*,
    r.rule,
    case
        when r.rule = 'adaptive' and g.purchase_number >= 4
            then least(g.billing_cycle_threshold, greatest(14, ceil(3 * g.median_gap_so_far)::integer))
        else g.billing_cycle_threshold
    end as threshold_days
from purchase_gaps as g
cross join (select unnest(['billing_cycle', 'adaptive']) as rule) as r;

create or replace temp table gap_thresholds as
select * from thresholds_by_rule where rule = '$inactivity_rule';

create or replace table customer_status_changes as
with changes as (
    select customer_id, purchase_date as change_date, 'first_purchase' as change_kind,
        null::integer as days_inactive
    from gap_thresholds where purchase_number = 1
    union all
    select customer_id, purchase_date + threshold_days + 1, 'became_inactive', null
    from gap_thresholds
    where next_purchase_date is null or next_purchase_date > purchase_date + threshold_days + 1
    union all
    select customer_id, next_purchase_date, 'reactivated',
        (next_purchase_date - (purchase_date + threshold_days + 1))::integer
    from gap_thresholds
    where next_purchase_date > purchase_date + threshold_days + 1
)
select date '$as_of_date' as as_of_date, *
from changes
where change_date <= date '$as_of_date';

-- Statuses counted on each day they are asked for (the day before each month and its last day),
-- from the intervals each purchase date opens: active from it to its threshold, inactive from
-- then to the next purchase date. Nothing is carried from one month to the next.
create or replace temp table status_days as
with months as (
    select unnest(generate_series(
        date_trunc('month', (select min(purchase_date) from purchase_dates)),
        date_trunc('month', date '$as_of_date'),
        interval 1 month
    ))::date as month_start
)
select month_start, 'start' as side, (month_start - 1)::date as status_day from months
union all
select month_start, 'end', least(last_day(month_start), date '$as_of_date') from months;

create or replace temp table statuses_on_days as
select
    s.month_start,
    s.side,
    count(*) filter (
        where s.status_day < coalesce(g.next_purchase_date, date '9999-12-31')
            and s.status_day <= g.purchase_date + g.threshold_days
    ) as active,
    count(*) filter (
        where s.status_day < coalesce(g.next_purchase_date, date '9999-12-31')
            and s.status_day > g.purchase_date + g.threshold_days
    ) as inactive
from status_days as s
inner join gap_thresholds as g
    on g.purchase_date <= s.status_day
    and s.status_day < coalesce(g.next_purchase_date, date '9999-12-31')
group by all;

create or replace table activity_kpis_monthly as
with events as (
    select date_trunc('month', change_date)::date as month_start, change_kind
    from customer_status_changes
),
kpis as (
    select
        s.month_start,
        least(last_day(s.month_start), date '$as_of_date') as month_end,
        coalesce(b.active, 0)::integer as active_at_start,
        coalesce(b.inactive, 0)::integer as inactive_at_start,
        (select count(*) from events as e
         where e.month_start = s.month_start and e.change_kind = 'first_purchase')::integer
            as new_customers,
        (select count(*) from events as e
         where e.month_start = s.month_start and e.change_kind = 'became_inactive')::integer
            as newly_inactive,
        (select count(*) from events as e
         where e.month_start = s.month_start and e.change_kind = 'reactivated')::integer
            as reactivated,
        coalesce(n.active, 0)::integer as active_at_end,
        coalesce(n.inactive, 0)::integer as inactive_at_end
    from (select distinct month_start from status_days) as s
    left join statuses_on_days as b on b.month_start = s.month_start and b.side = 'start'
    left join statuses_on_days as n on n.month_start = s.month_start and n.side = 'end'
)
select
    date '$as_of_date' as as_of_date,
    *,
    round(reactivated / nullif(inactive_at_start, 0), 4)::decimal(10, 4) as recovery_rate,
    round(newly_inactive / nullif(active_at_start, 0), 4)::decimal(10, 4) as attrition_rate
from kpis;

-- The revenue at risk: net revenue of the orders in the 365 days ending on the last purchase.
create or replace temp table revenue_at_risk as
with last_purchases as (
    select customer_id, max(order_date) filter (where is_purchase) as last_purchase_date
    from orders
    group by customer_id
)
select o.customer_id, sum(o.net_amount) as revenue_at_risk
from orders as o
inner join last_purchases as l on o.customer_id = l.customer_id
where o.order_date between l.last_purchase_date - 364 and l.last_purchase_date
group by o.customer_id;

-- The backtest: on every month end E up to the as-of date minus 90 days, each customer who had
-- bought by then is in exactly one gap between purchase dates; flagged when E is past the gap's
-- threshold, silent when the gap's next purchase is more than 90 days after E (or never comes).
create or replace table inactivity_backtest as
with month_ends as (
    select last_day(month_start)::date as month_end
    from (
        select unnest(generate_series(
            date_trunc('month', (select min(purchase_date) from purchase_dates)),
            date_trunc('month', date '$as_of_date'),
            interval 1 month
        )) as month_start
    )
    where last_day(month_start) <= date '$as_of_date' - 90
),
statuses as (
    select
        t.rule,
        m.month_end,
        m.month_end > t.purchase_date + t.threshold_days as flagged,
        t.next_purchase_date is null or t.next_purchase_date > m.month_end + 90 as silent
    from month_ends as m
    inner join thresholds_by_rule as t
        on t.purchase_date <= m.month_end
        and m.month_end < coalesce(t.next_purchase_date, date '9999-12-31')
),
counts as (
    select
        rule as inactivity_rule,
        month_end,
        count(*) as customers,
        count(*) filter (where flagged) as flagged,
        count(*) filter (where flagged and silent) as flagged_silent,
        count(*) filter (where not flagged and silent) as unflagged_silent
    from statuses
    group by all
)
select
    date '$as_of_date' as as_of_date,
    inactivity_rule,
    month_end,
    90 as horizon_days,
    customers::integer as customers,
    flagged::integer as flagged,
    flagged_silent::integer as flagged_silent,
    unflagged_silent::integer as unflagged_silent,
    round(flagged_silent / nullif(flagged, 0), 4)::decimal(10, 4) as precision,
    round(flagged_silent / nullif(flagged_silent + unflagged_silent, 0), 4)::decimal(10, 4)
        as recall
from counts;

create or replace table customer_activity_report as
with rhythm as (
    select
        customer_id,
        max(purchase_number) as purchase_dates,
        median(days_since_previous) as usual_days
    from purchase_dates
    group by customer_id
),

customers as (
    select
        a.*,
        r.usual_days,
        coalesce(k.revenue_at_risk, 0) as revenue_at_risk,
        case
            when '$inactivity_rule' = 'adaptive' and r.purchase_dates >= 4
                then least(a.inactivity_threshold_days, greatest(14, ceil(3 * r.usual_days)::integer))
            else a.inactivity_threshold_days
        end as threshold_days,
        case
            when '$inactivity_rule' = 'adaptive' and r.purchase_dates >= 4 then 'adaptive'
            else 'billing_cycle'
        end as threshold_rule
    from customer_activity as a
    left join rhythm as r on a.customer_id = r.customer_id
    left join revenue_at_risk as k on a.customer_id = k.customer_id
)

select
    date '$as_of_date' as as_of_date,
    customer_id,
    customer_name,
    email,
    sales_rep,
    segment,
    billing_cycle,
    first_purchase_date,
    last_purchase_date,
    days_since_last_purchase::integer as days_since_last_purchase,
    coalesce(purchase_count, 0)::integer as purchase_count,
    coalesce(lifetime_net_revenue, 0)::decimal(18, 2) as lifetime_net_revenue,
    coalesce(revenue_last_365_days, 0)::decimal(18, 2) as revenue_last_365_days,
    revenue_at_risk::decimal(18, 2) as revenue_at_risk,
    round(usual_days, 1)::decimal(10, 1) as usual_days_between_purchases,
    last_purchase_date + round(usual_days)::integer as expected_next_purchase_date,
    threshold_rule,
    threshold_days as inactivity_threshold_days,
    case
        when last_purchase_date is null then 'never_purchased'
        when days_since_last_purchase > threshold_days then 'inactive'
        else 'active'
    end as activity_status,
    case
        when last_purchase_date is null then 'never_purchased'
        when days_since_last_purchase > threshold_days then 'inactive'
        when days_since_last_purchase > 0.75 * threshold_days then 'at_risk'
        else 'active'
    end as lifecycle_stage
from customers
order by customer_id;

-- Each item's rhythm in a customer's buying: the median of the days between the distinct dates
-- they bought it on.
-- Each customer's lines of each item summed per order first: one grouping of the lines, which
-- spills to disk under a memory limit (a distinct count per customer and item does not).
create or replace temp table item_orders as
select
    l.customer_id,
    l.item_id,
    l.order_id,
    o.order_date,
    o.is_purchase,
    sum(l.quantity) as quantity,
    sum(l.amount) as amount
from visible_lines as l
inner join orders as o on l.order_id = o.order_id and l.customer_id = o.customer_id
group by all;

create or replace temp table item_rhythms as
with dates as (
    select distinct customer_id, item_id, order_date
    from item_orders
    where is_purchase
)
select customer_id, item_id, count(*) as purchase_dates, median(gap) as usual_days
from (
    select
        *,
        order_date - lag(order_date) over (partition by customer_id, item_id order by order_date)
            as gap
    from dates
)
group by all;

create or replace table customer_item_activity_report as
with item_activity as (
    select
        date '$as_of_date' as as_of_date,
        customer_id,
        item_id,
        min(order_date) filter (where is_purchase) as first_purchase_date,
        max(order_date) filter (where is_purchase) as last_purchase_date,
        count(*) filter (where is_purchase)::integer as purchase_count,
        sum(quantity)::decimal(18, 4) as total_quantity,
        sum(amount)::decimal(18, 2) as net_revenue
    from item_orders
    group by all
)
select
    a.as_of_date,
    a.customer_id,
    a.item_id,
    i.item_name,
    i.category,
    a.* exclude (as_of_date, customer_id, item_id),
    case when r.purchase_dates >= 3 then round(r.usual_days, 1)::decimal(10, 1) end
        as usual_days_between_purchases,
    case
        when coalesce(r.purchase_dates, 0) < 3 then 'occasional'
        when date '$as_of_date' - a.last_purchase_date > 3 * r.usual_days then 'lapsed'
        else 'regular'
    end as item_status
from item_activity as a
left join item_master as i on a.item_id = i.item_id
left join item_rhythms as r on a.customer_id = r.customer_id and a.item_id = r.item_id
order by a.customer_id, a.item_id;
