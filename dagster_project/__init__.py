"""Inactive-customer pipeline: raw order extracts -> DuckDB -> dbt -> activity reports."""
