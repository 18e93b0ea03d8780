{{ config(materialized=report_materialization(), contract={'enforced': target.type == 'duckdb'}) }}
-- One row per change of a customer's status up to the as-of date, under the inactivity rule
-- chosen (var inactivity_rule): when each customer first bought, became inactive and came back,
-- and how long they were away. Restated with today's rules and master data: the current billing
-- cycle's threshold applies to the whole past. A view over int_customer_status_changes, named
-- without its database so that the published copy reads the same view (see
-- customer_activity_report).
select
    {{ as_of_date() }} as as_of_date,
    customer_id,
    change_date,
    change_kind,
    days_inactive
from {{ ref('int_customer_status_changes').include(database=False) }}
where
    inactivity_rule = '{{ inactivity_rule() }}'
    and change_date <= {{ as_of_date() }}
