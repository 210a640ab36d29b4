"""What `fs-accelerator build` prints: one progress display, one summary, no Dagster notices."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest

from fs_assets.app.build import BuildReport, build, print_summary
from fs_assets.app.build_progress import CLEAR_LINE, BuildProgress
from fs_assets.defs.regional import REGION_PARTITIONS
from fs_assets.model.paths import PROJECT_ROOT, DataPaths

BIN = Path(sys.executable).parent
REGION = "mastered.customer_by_region"
PARTITIONS = len(REGION_PARTITIONS.get_partition_keys())
# The region partitions, then the catalog scanner and manifest downstream: two runs.
TWO_RUNS = "key:mastered/customer_by_region+"


class Terminal(StringIO):
    """Captured output that says it is a terminal, as sys.stdout does in one."""

    def isatty(self) -> bool:
        return True


def progress_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[")]


def test_plain_lines_count_assets_over_the_whole_build(built: DataPaths) -> None:
    out = StringIO()
    report = build(built, select=TWO_RUNS, out=out)
    assert report.ok and len(report.run_ids) == 2
    lines = progress_lines(out.getvalue())
    total = len(report.planned)
    # one line per asset, the partitioned one counted once with its partitions
    assert len(lines) == total, lines
    assert [int(re.match(r"\[(\d+)/", line).group(1)) for line in lines] == list(
        range(1, total + 1)
    )
    assert sum(REGION in line for line in lines) == 1
    assert f"{REGION} ({PARTITIONS} partitions)" in lines[0]
    # elapsed time runs over the whole build: it never restarts with the next run
    seconds = [float(re.search(r"\]\s+([\d.]+)s", line).group(1)) for line in lines]
    assert seconds == sorted(seconds)
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_one_line_rewritten(
    built: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = Terminal()
    report = build(built, select=TWO_RUNS, out=out)
    assert report.ok
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # the bar's last state stays
    frames = [f for f in text.rstrip("\n").split("\r\033[K") if f]
    assert len(frames) > 1
    total = len(report.planned)
    assert frames[-1].startswith("[" + "#" * 24 + "]") and f"{total}/{total} assets" in frames[-1]
    # the partitioned asset is named with its count once done; its partial counts show
    # only if a redraw (every POLL_S) falls between two partitions, which a fast build
    # may not give: test_a_partial_partition_count_is_drawn shows those frames
    assert any(f"{REGION} ({PARTITIONS} partitions)" in f for f in frames)


def test_a_partial_partition_count_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a partitioned asset is written, the line counts its partitions done so far."""
    monkeypatch.setenv("COLUMNS", "200")
    out = Terminal()
    progress = BuildProgress(None, {REGION: PARTITIONS, "x": 0}, BuildReport("", True), out=out)
    keys = REGION_PARTITIONS.get_partition_keys()
    frames = []
    for key in keys:
        progress._materialized(REGION, key)
        progress._draw()
        frames.append(out.getvalue().rsplit(CLEAR_LINE, 1)[-1])
    assert "0/2 assets" in frames[0] and f"{REGION} 1/{PARTITIONS} partitions" in frames[0]
    assert f"{REGION} {PARTITIONS - 1}/{PARTITIONS} partitions" in frames[-2]
    assert "1/2 assets" in frames[-1] and f"{REGION} ({PARTITIONS} partitions)" in frames[-1]
    progress._materialized(REGION, keys[0])  # a partition seen twice counts once
    assert progress.done == [REGION] and progress.current.endswith(f"({PARTITIONS} partitions)")


def test_the_bar_never_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrapped line cannot be rewritten with a carriage return: cut at the width."""
    monkeypatch.setenv("COLUMNS", "40")
    out = Terminal()
    progress = BuildProgress(None, {REGION: PARTITIONS}, BuildReport("", True), out=out)
    progress.current = f"{REGION} 17/{PARTITIONS} partitions"
    progress._draw()
    frame = out.getvalue().removeprefix("\r\033[K")
    assert frame.startswith("[") and len(frame) == 39


def test_summary_names_assets_partitions_checks_and_runs(built: DataPaths) -> None:
    report = build(built, select=TWO_RUNS, out=StringIO())
    out = StringIO()
    print_summary(report, built, out=out)
    text = out.getvalue()
    total = len(report.planned)
    assert f"build succeeded in {report.seconds:.1f}s: {total}/{total} assets materialized" in text
    assert f"({PARTITIONS} partitions of {REGION})" in text
    assert f"checks: {len(report.checks_passed)} passed, 0 warned, 0 failed" in text
    runs = text.split("dagster runs:\n")[1].splitlines()[:2]
    assert runs == [f"  {run_id}" for run_id in report.run_ids]
    assert "," not in "".join(runs)


def test_a_failed_check_is_a_line_of_its_own_and_in_the_summary(built: DataPaths) -> None:
    good = sorted((built.landing / "customer").glob("*.csv"))[0]
    bad = built.landing / "customer" / "customer_broken.csv"
    lines = good.read_text(encoding="utf-8").splitlines()[:4]
    lines[2] += ',"extra field"'
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = Terminal()
    report = build(built, select="key:raw/customer", out=out)
    assert not report.ok
    name = "raw.customer:landing_files_accepted"
    said = "1 file(s) rejected, first 'customer_broken.csv' line 3: "
    assert f"\r\033[Kcheck FAILED (ERROR) {name}: {said}" in out.getvalue()
    summary = StringIO()
    print_summary(report, built, out=summary)
    assert "build FAILED" in summary.getvalue()
    assert f"  FAILED ERROR {name}: {said}" in summary.getvalue()
    assert "fix it and land it again" in summary.getvalue()
    assert "0 warned, 1 failed" in summary.getvalue()


def test_quarantined_rows_fail_the_landing_check_naming_file_row_and_reason(
    built: DataPaths,
) -> None:
    """A file whose rows carry a control character is ingested without them; the failed
    check says where they went and why, not just its name."""
    good = sorted((built.landing / "customer").glob("*.csv"))[0]
    lines = good.read_text(encoding="utf-8").splitlines()[:3]
    lines[2] = lines[2].replace(",", ",\x01", 1)
    (built.landing / "customer" / "ctl 'x' [1].csv").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    report = build(built, select="key:raw/customer", out=Terminal())
    assert not report.ok
    note = report.notes["raw.customer:landing_files_accepted"]
    assert note.startswith('1 row(s) quarantined in quarantine."customer_ingest_rejects"'), note
    assert "/customer/ctl 'x' [1].csv\" row 2: control_character: " in note, note


def test_cli_build_shows_no_dagster_api_notices(built: DataPaths) -> None:
    env = {
        **os.environ,
        "FS_ACCELERATOR_HOME": str(built.home),
        "DAGSTER_HOME": str(built.dagster_home),
    }
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [str(BIN / "fs-accelerator"), "build", "--select", "key:mastered/customer_by_region"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for notice in ("BetaWarning", "PreviewWarning", "SupersessionWarning"):
        assert notice not in result.stderr + result.stdout
    assert "[1/1]" in result.stdout and f"({PARTITIONS} partitions)" in result.stdout


def test_a_failed_step_is_named_with_its_error_in_the_summary(built: DataPaths) -> None:
    """A step that raises: the progress line and the summary name it with the first line
    of its error (what to do), not the step alone."""
    import duckdb

    with duckdb.connect(str(built.warehouse)) as conn:
        conn.execute("drop table mastered.customer")
    out = StringIO()
    report = build(built, select="key:mastered/account", out=out)
    assert not report.ok and report.step_failures == ["mastered__account"]
    said = "mastered.customer does not exist yet; build it before mastered.account"
    assert report.step_errors["mastered__account"] == f"RuntimeError: {said} (its rules read it)"
    assert f"step FAILED mastered__account: RuntimeError: {said}" in out.getvalue()
    summary = StringIO()
    print_summary(report, built, out=summary)
    assert f"  FAILED step mastered__account: RuntimeError: {said}" in summary.getvalue()
