"""OpenLineage events of a real build: spec-valid, column lineage to landing files, delivery."""

import argparse
import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from catalog_support import (
    asset_graph,
    events,
    materialize,
    project,
    schema_errors,
    spec_registry,
)
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

from fs_assets.app.lineage_cli import add_lineage_commands
from fs_assets.defs.keys import DATA_PRODUCT_KEY
from fs_assets.defs.lineage_source import emit_run_lineage
from fs_assets.lineage.emitter import FAILED, FAILURES_FILE
from fs_assets.model.naming import DATASET_NAMESPACE, FILE_NAMESPACE
from fs_assets.model.paths import DataPaths
from resources import default_resources
from resources.lineage_sink import URL_ENV, resolved_lineage_sink
from sensors.lineage_sensor import openlineage_on_success


@pytest.fixture
def lineaged(built: DataPaths, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    """A private copy of a built data folder; the build emitted the lineage of its runs."""
    monkeypatch.delenv(URL_ENV, raising=False)
    return built


def complete(evs: list[dict], job: str) -> dict:
    return [e for e in evs if e["job"]["name"] == job and e["eventType"] == "COMPLETE"][-1]


def test_every_event_validates_against_the_openlineage_spec(lineaged: DataPaths) -> None:
    registry = spec_registry()
    evs = events(lineaged)
    assert len(evs) > 40
    problems = {i: p for i, e in enumerate(evs) if (p := schema_errors(registry, e))}
    assert not problems
    # The validator is not vacuous: a broken assertion facet is caught.
    checked = next(
        e
        for e in evs
        if e["job"]["name"] == "mastered.customer.checks" and e["eventType"] == "COMPLETE"
    )
    facet = checked["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    del facet["assertions"][0]["success"]
    checked["run"]["runId"] = "not-a-uuid"
    errors = schema_errors(registry, checked)
    assert any("success" in p for p in errors) and any("uuid" in p for p in errors)


def test_each_asset_step_has_start_and_complete_with_lineage_facets(lineaged: DataPaths) -> None:
    evs = events(lineaged)
    by_run: dict[str, list[str]] = {}
    for e in evs:
        by_run.setdefault(e["run"]["runId"], []).append(e["eventType"])
    assert all(
        states[0] == "START" and states[-1] in {"COMPLETE", "FAIL"} for states in by_run.values()
    )
    jobs = {e["job"]["name"] for e in evs}
    assert {"raw.customer", "mastered.customer", "mastered.customer_by_region"} <= jobs
    assert {"governed.analyst_customer", "catalog.scanner", "catalog.data_product"} <= jobs

    raw = complete(evs, "raw.customer")
    files = [i for i in raw["inputs"] if i["namespace"] == FILE_NAMESPACE]
    assert files and {Path(f["name"]).parent.name for f in files} == {"customer"}
    out = next(o for o in raw["outputs"] if o["name"] == "raw.customer")
    assert out["namespace"] == DATASET_NAMESPACE
    source = out["facets"]["columnLineage"]["fields"]["cibil_score"]["inputFields"][0]
    assert source["namespace"] == FILE_NAMESPACE and source["field"] == "Cibil Score"

    mastered = complete(evs, "mastered.customer")
    out = next(o for o in mastered["outputs"] if o["name"] == "mastered.customer")
    facets = out["facets"]
    (dep,) = facets["columnLineage"]["fields"]["cibil_score"]["inputFields"]
    assert (dep["name"], dep["field"]) == ("raw.customer", "cibil_score")
    assert facets["ownership"]["owners"][0]["name"] == "team:customer-data"
    assert facets["documentation"]["description"].startswith("Customer overview")
    fields = {f["name"]: f for f in facets["schema"]["fields"]}
    assert "PII: TW.mask" in fields["email_addr"]["description"]
    assert "PII" not in fields["cibil_score"]["description"]
    tags = {(t["field"], t["value"]) for t in facets["tags"]["tags"]}
    assert ("email_addr", "TW.mask") in tags and ("cust_dob", "TW.dob") in tags
    rows = out["outputFacets"]["outputStatistics"]["rowCount"]
    assert rows > 1000
    assert {o["name"] for o in mastered["outputs"]} >= {"quarantine.customer_rejects"}

    checks = complete(evs, "mastered.customer.checks")
    assertions = checks["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    by_name = {a["assertion"]: a for a in assertions}
    assert by_name["key_unique"]["success"] is True
    assert by_name["valid_cibil_score"]["column"] == "cibil_score"
    assert {a["severity"] for a in assertions} <= {"error", "warn"}


def run_cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_lineage_commands(parser.add_subparsers())
    args = parser.parse_args(["lineage", *argv])
    out = io.StringIO()
    return args.func(args, out=out), out.getvalue()


def test_lineage_command_traces_a_column_to_the_landing_file(lineaged: DataPaths) -> None:
    code, text = run_cli(["mastered.customer.cibil_score"])
    assert code == 0, text
    upstream, downstream = text.split("downstream (what consumes it):")
    assert "raw.customer.cibil_score" in upstream
    # (The events name the files where the session's build read them.)
    landing = sorted((lineaged.landing / "customer").glob("*.csv"))[0]
    assert f'/customer/{landing.name} column "Cibil Score"' in upstream
    assert "file:/" in upstream
    for role in ("analyst", "restricted_acess", "pii_reader", "dob_bucketing"):
        assert f"governed.{role}_customer.cibil_score" in downstream
    assert "mastered.customer_by_region" in downstream  # a dataset-level consumer
    page = lineaged.lineage / "lineage.html"
    html = page.read_text(encoding="utf-8")
    assert 'data-name="mastered.customer.cibil_score"' in html
    assert "<script src" not in html and "<link" not in html  # self-contained, no CDN
    assert f"{page.as_uri()}#mastered.customer.cibil_score" in text

    code, text = run_cli(["mastered.customer.email_addr", "--no-sync"])
    assert "[PII TW.mask]" in text and "masking" in text
    code, _ = run_cli(["mastered.nope.column", "--no-sync"])
    assert code == 2


def test_unknown_column_or_table_is_an_error_with_a_did_you_mean(
    lineaged: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    from fs_assets.app.cli import main

    # The installed command's entry point: exit status 2, the error on stderr.
    assert main(["lineage", "mastered.customer.cibil_scor", "--no-sync"]) == 2
    err = capsys.readouterr().err
    assert "table mastered.customer has no column 'cibil_scor'" in err
    assert "did you mean mastered.customer.cibil_score?" in err

    code, out = run_cli(["mastered.customer.cibil_scor", "--no-sync"])
    assert code == 2 and out == ""  # nothing printed as if the column existed
    capsys.readouterr()
    code, out = run_cli(["mastered.custmer.cibil_score", "--no-sync"])
    err = capsys.readouterr().err
    assert code == 2 and "no table or column 'mastered.custmer.cibil_score'" in err
    assert "did you mean mastered.customer.cibil_score" in err

    code, _ = run_cli(["mastered.custmer", "--no-sync"])
    assert code == 2 and "did you mean mastered.customer" in capsys.readouterr().err
    # Nothing close: still an error, listing what exists instead of a guess.
    code, _ = run_cli(["mastered.customer.zzzz", "--no-sync"])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean" not in err
    assert "its columns: " in err and "cibil_score" in err
    # A column known only from the schema or only from column lineage is found.
    code, out = run_cli(["raw.customer.cibil_score", "--no-sync"])
    assert code == 0 and 'column "Cibil Score"' in out


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    """A stand-in Marquez: collects the JSON bodies POSTed to /api/v1/lineage."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/api/v1/lineage":
                received.append(json.loads(body))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_events_also_arrive_by_http_when_openlineage_url_is_set(
    lineaged: DataPaths, receiver: tuple[str, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = receiver
    monkeypatch.setenv(URL_ENV, url)
    with dg.DagsterInstance.get() as instance:
        result = materialize(instance, dg.AssetSelection.assets(DATA_PRODUCT_KEY))
        http = resolved_lineage_sink().http_target()
        report = emit_run_lineage(
            instance, result.run_id, asset_graph(), lineaged.lineage, http=http
        )
        again = emit_run_lineage(
            instance, result.run_id, asset_graph(), lineaged.lineage, http=http
        )
    assert result.success and report.ok, report.failures
    in_file = [e for e in events(lineaged) if result.run_id in json.dumps(e["run"])]
    assert report.events == report.http_delivered == len(in_file) == len(received) >= 4
    assert received == in_file
    assert again.skipped == "already emitted" and len(received) == len(in_file)


def test_run_succeeds_and_says_so_when_lineage_delivery_fails(
    lineaged: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assets, checks = project()
    repo = dg.Definitions(
        assets=assets, asset_checks=checks, resources=default_resources()
    ).get_repository_def()
    with dg.DagsterInstance.get() as instance:
        result = materialize(instance, dg.AssetSelection.assets(DATA_PRODUCT_KEY))
        run = instance.get_run_by_id(result.run_id)
        context = dg.build_run_status_sensor_context(
            sensor_name=openlineage_on_success.name,
            dagster_event=result.get_run_success_event(),
            dagster_instance=instance,
            dagster_run=run,
            resources={"lineage_sink": default_resources()["lineage_sink"]},
            repository_def=repo,
        )
        skip = openlineage_on_success(context)
        logs = [e.message for e in instance.all_logs(result.run_id)]
    assert result.success and instance.get_run_by_id(result.run_id).is_success
    assert FAILED in skip.skip_message
    assert any(FAILED in m for m in logs)  # in the run's own log, shown by the UI
    failure = json.loads((lineaged.lineage / FAILURES_FILE).read_text().splitlines()[-1])
    assert failure["run_id"] == result.run_id and failure["http_delivered"] == 0
    # The local record still has every event of the run.
    assert sum(result.run_id in json.dumps(e["run"]) for e in events(lineaged)) >= 4


def test_a_failed_asset_emits_fail_with_the_error_message(tmp_path: Path) -> None:
    @dg.asset(
        key=["mastered", "broken"],
        owners=["team:customer-data"],
        metadata={"dagster/table_name": "warehouse.mastered.broken"},
    )
    def broken() -> None:
        raise RuntimeError("the source system sent nothing")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], instance=instance, raise_on_error=False)
    assert not result.success
    graph = AssetGraph.from_assets([broken])
    report = emit_run_lineage(instance, result.run_id, graph, tmp_path)
    assert report.ok, report.failures
    evs = [json.loads(line) for line in (tmp_path / "openlineage.jsonl").read_text().splitlines()]
    fail = next(
        e for e in evs if e["job"]["name"] == "mastered.broken" and e["eventType"] == "FAIL"
    )
    assert (
        "RuntimeError: the source system sent nothing"
        in fail["run"]["facets"]["errorMessage"]["message"]
    )
    registry = spec_registry()
    assert not [p for e in evs for p in schema_errors(registry, e)]
    assert [e["eventType"] for e in evs if e["job"]["name"] == "__ephemeral_asset_job__"] == [
        "START",
        "FAIL",
    ]


def test_raw_run_reads_its_landing_files_from_materialization_metadata(tmp_path: Path) -> None:
    """The run-status sensor cannot open the warehouse; the raw asset's `landing_files`
    metadata tells it which files a run read, with their header spelling."""
    from fs_assets.defs.asset_graph import plain_metadata
    from fs_assets.lineage.landing import file_columns, reads_from_metadata

    csv = tmp_path / "customer_x.csv"
    csv.write_text(",Cust Id,Cibil Score\n0,1,700\n", encoding="utf-8")
    meta = {"landing_files": dg.MetadataValue.json([{"path": str(csv), "status": "ingested"}])}
    (read,) = reads_from_metadata("customer", plain_metadata(meta))
    assert read.contributed and file_columns(read) == {
        "cust_id": "Cust Id",
        "cibil_score": "Cibil Score",
    }
    assert reads_from_metadata("customer", {}) is None  # no such metadata: ask the ledger


def test_without_the_warehouse_landing_files_come_from_the_event_log(
    lineaged: DataPaths, tmp_path: Path
) -> None:
    """What the run-status sensor sees: no ledger, yet the raw run names its files."""
    instance = dg.DagsterInstance.get()
    first = instance.get_run_records()[-1].dagster_run.run_id  # the build's first run
    report = emit_run_lineage(instance, first, asset_graph(), tmp_path, write_html=False)
    assert report.ok and report.events > 0
    evs = [json.loads(line) for line in (tmp_path / "openlineage.jsonl").read_text().splitlines()]
    raw = complete(evs, "raw.customer")
    assert [Path(i["name"]).parent.name for i in raw["inputs"] if i["namespace"] == "file"] == [
        "customer"
    ]
