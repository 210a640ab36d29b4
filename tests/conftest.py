"""Shared fixtures: a temporary data folder, generated landing files, a real DuckDB file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from fs_assets.app.instance import INSTANCE_TEMPLATE
from fs_assets.generator import generate_landing
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS

SMALL_CUSTOMERS = 1_500
# The masking key of every test (and of the `fs-accelerator` processes they start): the
# governed views and exports refuse to run without one. Not a secret: test data only.
TEST_MASKING_KEY = "test-masking-key-not-a-secret-0123456789"
os.environ.setdefault("FS_ACCELERATOR_MASKING_KEY", TEST_MASKING_KEY)
# Every JVM the tests start (the Spark driver, the killed writers, a standalone cluster's
# master, workers and executors) lives a minute or two on tiny data: the client compiler
# alone and the serial collector start and finish sooner on two cores than the default
# tiered C2 compilation and parallel GC threads. JIT and GC settings only: the same SQL
# runs with the same results.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
os.environ.setdefault("JAVA_TOOL_OPTIONS", TEST_JVM_OPTIONS)
# The files that took a minute or more in full runs (a run's summary ends with the longest
# files, FILES_SHOWN of them, to keep this list true): pyproject's addopts run
# the suite on two pytest-xdist workers, whole files each (`--dist loadfile`), handed out
# in collection order (`--no-loadscope-reorder`). Started first, the long files overlap
# each other and the short ones fill in after, instead of one long file running alone at
# the end. Names only: a file missing here just runs in its usual place.
LONG_FILES = (  # longest first (a full run's summed seconds), so the workers end together
    "test_engines.py",
    "test_spark_cluster.py",
    "test_ui_quiet.py",
    "test_simulate.py",
    "test_spark_identity_assets.py",
    "test_engines_checks.py",
    "test_recovery.py",
    "test_spark_publish.py",
    "test_recovery_sensor.py",
    "test_dagster_dev_e2e.py",
    "test_mastering.py",
    "test_end_to_end.py",
    "test_soak.py",
    "test_ui_stop.py",
    "test_spark_identity.py",
)
FILES_SHOWN = 15  # the longest files in the summary, to keep LONG_FILES true


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, the files of LONG_FILES first, the rest in their usual order
    (every worker sorts alike, so their collections match). A plain run keeps pytest's
    order."""
    if not hasattr(config, "workerinput"):
        return
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


_FILE_SECONDS: dict[str, float] = {}  # each file's summed set-up, call and teardown


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add a test phase's seconds to its file (on the xdist controller, every worker's)."""
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The longest files by their tests' summed seconds: what LONG_FILES should list."""
    if hasattr(config, "workerinput") or not _FILE_SECONDS:
        return
    terminalreporter.section(f"longest {FILES_SHOWN} files (summed seconds)")
    for path, total in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:FILES_SHOWN]:
        terminalreporter.write_line(f"{total:8.1f}s {path}")


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Landing files for a small generated data set, made once per session (read-only)."""
    out = tmp_path_factory.mktemp("landing_small")
    generate_landing(out, customers=SMALL_CUSTOMERS, seed=7)
    return out


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    """An empty data folder (with its Dagster instance folder) the project is pointed at."""
    root = tmp_path / "fs_home"
    (root / "dagster_home").mkdir(parents=True)
    shutil.copyfile(INSTANCE_TEMPLATE, root / "dagster_home" / "dagster.yaml")
    monkeypatch.setenv("FS_ACCELERATOR_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    return DataPaths(root)


@pytest.fixture
def landed(home: DataPaths, small_landing: Path) -> DataPaths:
    """The data folder with the small generated data set copied into its landing zone."""
    shutil.copytree(small_landing, home.landing)
    return home


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A real DuckDB file with the warehouse schemas."""
    connection = duckdb.connect(str(tmp_path / "test.duckdb"))
    for schema in LAYER_SCHEMAS:
        connection.execute(f"create schema if not exists {schema}")
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory, small_landing: Path) -> Path:
    """A data folder after a full `fs-accelerator build`, made once per session."""
    import os
    from io import StringIO

    from fs_assets.app.build import build

    root = tmp_path_factory.mktemp("built") / "fs_home"
    (root / "dagster_home").mkdir(parents=True)
    shutil.copyfile(INSTANCE_TEMPLATE, root / "dagster_home" / "dagster.yaml")
    shutil.copytree(small_landing, root / "landing")
    saved = {k: os.environ.get(k) for k in ("FS_ACCELERATOR_HOME", "DAGSTER_HOME")}
    os.environ["FS_ACCELERATOR_HOME"] = str(root)
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    try:
        report = build(DataPaths(root), out=StringIO())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert report.ok, (report.checks_failed, report.step_failures)
    return root


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built_template: Path) -> DataPaths:
    """A private copy of the built data folder (warehouse, landing, Dagster instance)."""
    root = tmp_path / "fs_home"
    shutil.copytree(built_template, root)
    monkeypatch.setenv("FS_ACCELERATOR_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    return DataPaths(root)
