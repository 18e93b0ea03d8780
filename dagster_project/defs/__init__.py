"""Dagster definitions, one module per domain: raw extracts, dbt models, published reports,
and the job and schedule that run them."""
