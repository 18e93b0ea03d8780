-- The baseline: both reports computed from the raw extract files by DuckDB alone, in one script,
-- with the same rules as the dbt models but none of the pipeline around them (no validation,
-- quarantine, ledger, lineage columns, orchestration). It is the lower bound the benchmark
-- compares the pipeline with. `$as_of_date`, `$purchase_order_types` (the dbt var) and the
-- readers of the extract files (`$read_orders`, `$read_customers`, `$read_items`: CSV or Parquet,
-- typed as the contract says) are filled in by bench.py.

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

create or replace table customer_activity_report as
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
    inactivity_threshold_days,
    case
        when last_purchase_date is null then 'never_purchased'
        when days_since_last_purchase > inactivity_threshold_days then 'inactive'
        else 'active'
    end as activity_status
from customer_activity
order by customer_id;

create or replace table customer_item_activity_report as
select
    date '$as_of_date' as as_of_date,
    l.customer_id,
    l.item_id,
    i.item_name,
    i.category,
    min(o.order_date) filter (where o.is_purchase) as first_purchase_date,
    max(o.order_date) filter (where o.is_purchase) as last_purchase_date,
    count(distinct l.order_id) filter (where o.is_purchase)::integer as purchase_count,
    sum(l.quantity)::decimal(18, 4) as total_quantity,
    sum(l.amount)::decimal(18, 2) as net_revenue
from visible_lines as l
inner join orders as o on l.order_id = o.order_id and l.customer_id = o.customer_id
left join item_master as i on l.item_id = i.item_id
group by all
order by l.customer_id, l.item_id;
