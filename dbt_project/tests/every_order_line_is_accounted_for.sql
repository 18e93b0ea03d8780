{{ config(meta={"dagster": {"ref": {"name": "int_order_lines_current"}}}) }}
-- Every line of each order's current version reaches int_order_lines_current once, and no line of
-- another version does. The current version is counted here from the raw lines alone, by the rule
-- itself (an order's lines are those of the file whose name sorts last among the files extracted
-- by the as-of date that hold it), never from the lines stored: a line lost or counted twice on
-- its way to the reports returns its order here, with the lines expected and the lines stored.
-- (That the raw tables hold every row read, quarantined rows apart, is the raw assets' check
-- every_row_accounted_for.)
-- An incremental build checks the orders it recomputed (the lines of the others did not move):
-- reading every raw line costs seconds at tens of millions of lines. A full build checks them all.
{%- set orders_this_build_recomputes = key_set_of_this_build('orders_in_new_files') %}

with files_extracted_by_as_of_date as (
    -- The rule applied once per file rather than once per line: it reads the date in the file's
    -- name, seconds over tens of millions of lines.
    select files.source_file
    from (select distinct _source_file as source_file from {{ source('raw', 'orders') }}) as files
    where {{ is_extracted_by_as_of_date('files.source_file') }}
),

raw_lines as (
    select
        order_id,
        _source_file as source_file
    from {{ source('raw', 'orders') }}
    where
        _source_file in (
            select files_extracted_by_as_of_date.source_file from files_extracted_by_as_of_date
        )
        {% if orders_this_build_recomputes is not none -%}
            and order_id in (
                select recomputed.order_id from {{ orders_this_build_recomputes }} as recomputed
            )
        {%- endif %}
),

lines_per_file as (
    select
        order_id,
        source_file,
        count(*) as line_count,
        max(source_file) over (partition by order_id) as current_file
    from raw_lines
    group by order_id, source_file
),

expected_lines as (
    -- Each order's lines in the last of its files.
    select
        order_id,
        source_file,
        line_count
    from lines_per_file
    where source_file = current_file
),

stored_lines as (
    select
        order_id,
        source_file,
        count(*) as line_count
    from {{ ref('int_order_lines_current') }}
    {% if orders_this_build_recomputes is not none -%}
        where order_id in (
            select recomputed.order_id from {{ orders_this_build_recomputes }} as recomputed
        )
    {%- endif %}
    group by order_id, source_file
)

select
    coalesce(expected_lines.order_id, stored_lines.order_id) as order_id,
    expected_lines.source_file as current_file,
    coalesce(expected_lines.line_count, 0) as lines_expected,
    stored_lines.source_file as stored_file,
    coalesce(stored_lines.line_count, 0) as lines_stored
from expected_lines
full outer join stored_lines
    on
        expected_lines.order_id = stored_lines.order_id
        and expected_lines.source_file = stored_lines.source_file
where coalesce(expected_lines.line_count, 0) != coalesce(stored_lines.line_count, 0)
