{#- SQL that differs between engines, as expressions: DuckDB's own where it is faster, a
    portable default elsewhere (dbt's cross-database macros cover the rest). -#}

{#- The value of `column` on the row with the lowest `order_by`, in a grouping. -#}
{% macro first_by(column, order_by) -%}
    {{ return(adapter.dispatch('first_by')(column, order_by)) }}
{%- endmacro %}

{% macro default__first_by(column, order_by) -%}
    min_by({{ column }}, {{ order_by }})
{%- endmacro %}

{% macro duckdb__first_by(column, order_by) -%}
    arg_min({{ column }}, {{ order_by }})
{%- endmacro %}

{#- Stops the statement with `message` (a SQL text expression) when evaluated. -#}
{% macro build_error(message) -%}
    {{ return(adapter.dispatch('build_error')(message)) }}
{%- endmacro %}

{% macro default__build_error(message) -%}
    raise_error({{ message }})
{%- endmacro %}

{% macro duckdb__build_error(message) -%}
    error({{ message }})
{%- endmacro %}

{#- Asks DuckDB not to materialize a CTE that a query reads twice, so that a filter on the query
    reaches the tables under it; other engines inline CTEs as they see fit. -#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
{%- endmacro %}

{% macro duckdb__not_materialized() -%}
    not materialized
{%- endmacro %}

{#- A number for each row of the query, 1 and up, in any order: DuckDB numbers rows as they
    come; other engines need an order (`order_by`). -#}
{% macro row_numbers(order_by) -%}
    {{ return(adapter.dispatch('row_numbers')(order_by)) }}
{%- endmacro %}

{% macro default__row_numbers(order_by) -%}
    row_number() over (order by {{ order_by }})
{%- endmacro %}

{% macro duckdb__row_numbers(order_by) -%}
    row_number() over ()
{%- endmacro %}

{#- The median of `column` over the rows of its partition up to the current one (in `order_by`
    order): DuckDB's windowed median; Spark's percentile over the same frame. -#}
{% macro median_so_far(column, partition_by, order_by) -%}
    {{ return(adapter.dispatch('median_so_far')(column, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__median_so_far(column, partition_by, order_by) -%}
    percentile({{ column }}, 0.5) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{% macro duckdb__median_so_far(column, partition_by, order_by) -%}
    median({{ column }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{#- The median of `column` over the rows of a grouping. -#}
{% macro median_of(column) -%}
    {{ return(adapter.dispatch('median_of')(column)) }}
{%- endmacro %}

{% macro default__median_of(column) -%}
    percentile({{ column }}, 0.5)
{%- endmacro %}

{% macro duckdb__median_of(column) -%}
    median({{ column }})
{%- endmacro %}

{#- dbt's listagg on Spark (dbt-spark's own) drops the ORDER BY, and the lists the reports name
    (the items a customer bought most, then stopped buying) are in order: Spark 4's LISTAGG
    keeps it. dbt looks for `spark__listagg` in this project before dbt-spark. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with a limit is not written for Spark") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }})
    {%- if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}
