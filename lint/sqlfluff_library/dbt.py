"""Stand-ins for dbt's cross-database macros (`dbt.datediff`, ...), for linting the models
offline: SQL of the same shape as dbt-duckdb's."""


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"


def hash(field):  # noqa: A001 - the name of dbt's macro
    return f"md5(cast({field} as varchar))"
