"""What happens when a run fails: one message naming the failing steps and their errors, in the
sensor's log in the UI and, when `FAILURE_WEBHOOK_URL` is set, posted to a chat webhook.

The run page already shows each step's error; the alert is for the person who is not looking at
the UI when the nightly run breaks.
"""

import json
import urllib.request
from collections.abc import Iterable

from dagster import (
    DagsterEvent,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    run_failure_sensor,
)

from dagster_project import settings
from dagster_project.defs.schedules import AS_OF_DATE_TAG, inactive_customer_reports_job

WEBHOOK_TIMEOUT_SECONDS = 10


def step_failures(events: Iterable[DagsterEvent]) -> list[tuple[str, str]]:
    """(step, error) for each failed step, the error as its author wrote it: a contract breach
    raised as a `Failure` by our code, rather than the framework's wrapping around it."""
    failures = []
    for event in events:
        error = event.step_failure_data.error
        while error.cause is not None and error.cls_name != "Failure":
            error = error.cause
        message = error.message.strip().split(f"{error.cls_name}: ", 1)[-1]
        if error.cls_name == "DagsterExecutionInterruptedError":
            # SIGTERM or Ctrl-C: a file's load and a publication are each all or nothing, and a
            # dbt build is idempotent, so running again completes what the step began.
            message = "stopped by a signal (SIGTERM or Ctrl-C); run the job again to complete it"
        failures.append((event.step_key, message))
    return failures


def failure_message(job_name: str, run_id: str, as_of_date: str | None, failures) -> str:
    """The alert: which run, for which date, which steps failed and why."""
    lines = [
        f"Run {run_id} of {job_name}"
        + (f" (reports as of {as_of_date})" if as_of_date else "")
        + " failed."
    ]
    lines += [f"- step {step}: {message}" for step, message in failures]
    if not failures:
        lines.append("- no step failed: the run itself failed to start or was stopped")
    return "\n".join(lines)


def post_to_webhook(url: str, text: str) -> None:
    """Posts `{"text": ...}`, the payload Slack, Mattermost and Teams incoming webhooks take."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS):
        pass


def build_run_failure_alert() -> SensorDefinition:
    @run_failure_sensor(
        name="report_run_failure_alert",
        monitored_jobs=[inactive_customer_reports_job],
        default_status=DefaultSensorStatus.RUNNING,
        description="When a run of the job fails, logs one message (this sensor's tick logs) "
        "naming the run, its as-of date and each failed step with its error, and posts it to "
        "FAILURE_WEBHOOK_URL when set.",
    )
    def report_run_failure_alert(context: RunFailureSensorContext) -> None:
        run = context.dagster_run
        text = failure_message(
            run.job_name,
            run.run_id,
            run.tags.get(AS_OF_DATE_TAG),
            step_failures(context.get_step_failure_events()),
        )
        context.log.error(text)
        url = settings.failure_webhook_url()
        if url:
            # A webhook that is down must not hide the failure: it fails this tick, which the UI
            # shows beside the run's own failure.
            post_to_webhook(url, text)

    return report_run_failure_alert
