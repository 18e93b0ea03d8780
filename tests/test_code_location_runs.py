"""Runs as the Dagster UI sees them: `make run`'s runs belong to the code location's job, and
every run says the date it computes the reports for, however it was launched.

The UI's view is Dagster's GraphQL API over the workspace of `workspace.yaml`, loaded as
`make ui` loads it (a code server of its own)."""

import pytest
from dagster import DagsterInstance

from dagster_project.run import JOB_NAME, WORKSPACE_FILE, main

LOCATION = "inactive_customers"
JOB_SELECTOR = {
    "pipelineName": JOB_NAME,
    "repositoryName": "__repository__",
    "repositoryLocationName": LOCATION,
}

UI_QUERY = """
query ($selector: PipelineSelector!, $runId: ID!, $config: RunConfigData) {
  pipelineOrError(params: $selector) {
    ... on Pipeline { description pipelineSnapshotId runs { runId } }
  }
  runOrError(runId: $runId) {
    ... on Run {
      pipelineSnapshotId
      repositoryOrigin { repositoryLocationName repositoryName }
      tags { key value }
    }
  }
  isPipelineConfigValid(pipeline: $selector, runConfigData: $config, mode: "default") {
    __typename
  }
}
"""


@pytest.fixture
def make_run(dbt_manifest, hand_built_raw_dir, dagster_home, tmp_path, monkeypatch):
    """`make run` on the hand-built extracts as of 2024-06-30, in a fresh instance with the
    shipped settings; returns the instance."""
    monkeypatch.setenv("RAW_DATA_DIR", str(hand_built_raw_dir))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("AS_OF_DATE", raising=False)
    assert main(["--as-of-date", "2024-06-30"]) == 0
    with DagsterInstance.get() as instance:
        yield instance


def ask_the_ui(instance, run_id: str, config: dict) -> dict:
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    target = WorkspaceFileTarget(paths=[str(WORKSPACE_FILE)])
    with WorkspaceProcessContext(instance, target) as workspace:
        result = execute_dagster_graphql(
            workspace.create_request_context(),
            UI_QUERY,
            {"selector": JOB_SELECTOR, "runId": run_id, "config": config},
        )
    assert not result.errors, result.errors
    return result.data


def test_make_runs_runs_show_on_the_code_location_jobs_pages(make_run):
    (run,) = make_run.get_runs()
    assert run.remote_job_origin.location_name == LOCATION
    assert run.remote_job_origin.job_name == JOB_NAME

    ui = ask_the_ui(make_run, run.run_id, {})

    job = ui["pipelineOrError"]
    # On the job's Runs tab (and so on the Overview timeline) ...
    assert [listed["runId"] for listed in job["runs"]] == [run.run_id]
    # ... and its page does not warn that the job may be another version: same code location,
    # same job snapshot.
    assert ui["runOrError"]["repositoryOrigin"] == {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
    }
    assert ui["runOrError"]["pipelineSnapshotId"] == job["pipelineSnapshotId"]


def test_every_run_says_its_date_and_a_launch_says_which_date_it_uses(make_run):
    from dagster_project.definitions import build_definitions

    (run,) = make_run.get_runs()
    assert {key: run.tags.get(key) for key in ("as_of_date", "backfill", "trigger")} == {
        "as_of_date": "2024-06-30",
        "backfill": None,
        "trigger": "make_run",
    }

    # The launchpad's config as the README documents it; the run's only tags are the UI's.
    readme_config = {"ops": {"dbt_models": {"config": {"as_of_date": "2024-06-01"}}}}
    ui = ask_the_ui(make_run, run.run_id, readme_config)
    assert ui["isPipelineConfigValid"]["__typename"] == "PipelineConfigValidationValid"
    description = ui["pipelineOrError"]["description"]
    assert "as of today (the day the run starts" in description
    assert 'as_of_date: "2026-06-30"' in description

    launched = (
        build_definitions()
        .resolve_job_def(JOB_NAME)
        .execute_in_process(run_config=readme_config, instance=make_run)
    )
    assert launched.success
    tags = make_run.get_run_by_id(launched.run_id).tags
    # Older than the reports published as of 2024-06-30: a backfill.
    assert {key: tags.get(key) for key in ("as_of_date", "backfill")} == {
        "as_of_date": "2024-06-01",
        "backfill": "true",
    }
