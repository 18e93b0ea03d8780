"""A failed run raises one alert naming the failing step and its error, in the UI and, when
FAILURE_WEBHOOK_URL is set, on a chat webhook (here a server on this machine)."""

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import build_run_status_sensor_context

from tests.conftest import FIXTURES, shipped_instance


@pytest.fixture
def webhook():
    """A local webhook that keeps the JSON bodies posted to it."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()
    server.server_close()


def test_a_failed_run_alerts_with_the_failing_step_and_its_error(
    dbt_manifest, tmp_path, monkeypatch, webhook
):
    url, received = webhook
    raw_dir = tmp_path / "raw"
    (raw_dir / "orders").mkdir(parents=True)
    bad_file = raw_dir / "orders" / "orders_2024-03-01.csv"
    shutil.copy(FIXTURES / "bad_extracts" / "missing_required_column.csv", bad_file)
    monkeypatch.setenv("RAW_DATA_DIR", str(raw_dir))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("FAILURE_WEBHOOK_URL", url)

    from dagster_project.definitions import build_definitions
    from dagster_project.defs.schedules import report_run_config

    defs = build_definitions()
    with shipped_instance() as instance:
        result = defs.resolve_job_def("inactive_customer_reports").execute_in_process(
            run_config=report_run_config("2024-03-31"),
            instance=instance,
            tags={"as_of_date": "2024-03-31"},
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"]
        context = build_run_status_sensor_context(
            sensor_name="report_run_failure_alert",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        defs.resolve_sensor_def("report_run_failure_alert")(context)

    assert received == [
        {
            "text": f"Run {result.run_id} of inactive_customer_reports (reports as of "
            "2024-03-31) failed.\n"
            "- step raw_extracts: The orders extracts break the contract:\n"
            f"{bad_file}: missing required column(s) item_id "
            "(header has: order_id, order_date, customer_id, quantity, amount)"
        }
    ]


def test_the_alert_sensor_is_on_and_watches_the_pipeline_job(dbt_manifest):
    from dagster_project.definitions import defs

    sensor = defs.resolve_sensor_def("report_run_failure_alert")
    assert sensor.default_status.value == "RUNNING"
    assert [job.name for job in sensor._monitored_jobs] == ["inactive_customer_reports"]
