{#- Incremental builds: the one strategy of every incremental model, and the keys it replaces.

    The Dagster step decides, before dbt starts, whether a build is full (`dbt build
    --full-refresh`) or incremental (dagster_project/build_plan.py), and for an incremental
    build writes the keys it recomputes to the tables of the schema `build_state`
    (dagster_project/build_state.py), one table per set of keys. Each incremental model names
    its set in `meta.recomputes`, filters its SELECT on it (`keys_this_build_recomputes`) and is
    written by `replace_recomputed_keys`: the rows of those keys are deleted, then the new rows
    inserted, so that a key with nothing left to insert (an order moved to another customer)
    goes too. -#}

{#- The materialization of the models that daily builds update in place: `incremental` on DuckDB;
    on Spark a table every build rebuilds whole (Parquet tables have no DELETE; a Delta or
    Iceberg cluster could take the incremental path). -#}
{% macro incremental_where_supported() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}

{#- The materialization of the reports: on DuckDB views over the tables behind them (only the
    days since the last purchase move with the date); on Spark tables, whose Parquet files are
    what publishing copies (and Spark's catalog does not keep views of this length). -#}
{% macro report_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'view') }}
{%- endmacro %}

{#- dbt-duckdb dispatches `incremental_strategy='replace_recomputed_keys'` here. In one
    transaction, as dbt runs every strategy. -#}
{% macro get_incremental_replace_recomputed_keys_sql(arg_dict) -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ keys_this_build_recomputes() }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}

{#- The model's filter on the keys this build recomputes: its `unique_key` in the set of keys
    its `meta.recomputes` names. The set exists only while the Dagster step runs an incremental
    build: an incremental build started otherwise stops here, rather than build from stale
    keys. -#}
{% macro keys_this_build_recomputes() -%}
    {%- set key = config.get('unique_key') -%}
    {%- set key_set = config.get('meta', {}).get('recomputes') -%}
    {%- set keys = adapter.get_relation(
        database=target.database, schema='build_state', identifier=key_set) -%}
    {%- if keys is none -%}
        {{ exceptions.raise_compiler_error(
            "No list of the keys this build recomputes (build_state." ~ key_set ~ "): run the "
            ~ "build from Dagster, which decides what an incremental build recomputes, or run "
            ~ "dbt build --full-refresh.") }}
    {%- endif -%}
    {{ key }} in (select {{ key }} from {{ keys }})
{%- endmacro %}

{#- The relation of the set of keys `key_set` of the incremental build under way (see
    keys_this_build_recomputes); none outside one, when every key counts. -#}
{% macro key_set_of_this_build(key_set) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=target.database, schema='build_state', identifier=key_set)) }}
{%- endmacro %}

{#- A customer's key: DuckDB's own 64-bit hash of the id. The incremental builds and the
    published copy select a customer's rows by it: at tens of millions of rows, comparing
    numbers costs a seventh of comparing the text ids, and this hash a seventh of an MD5 (seconds
    per ten million order lines). A key is stored by one build and compared by the next, and
    DuckDB does not promise the same hash in every version: a build on another DuckDB version is
    full (business_settings in dagster_project/build_state.py). Two ids sharing a key (a chance
    of about one in forty million at a million customers) fail the `unique` test on
    int_customer_activity. -#}
{% macro customer_key(customer_id) -%}
    {{ return(adapter.dispatch('customer_key')(customer_id)) }}
{%- endmacro %}

{#- Elsewhere the MD5 itself, as text: a key need only be the same within one warehouse. -#}
{% macro default__customer_key(customer_id) -%}
    {{ dbt.hash(customer_id) }}
{%- endmacro %}

{% macro duckdb__customer_key(customer_id) -%}
    hash({{ customer_id }})
{%- endmacro %}
