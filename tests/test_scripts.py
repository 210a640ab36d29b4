"""The two README commands install what they need: the runtime for run.sh, [dev] for test.sh.

`scripts/bootstrap.sh` runs for real here, in a copy of the repository whose `.venv/bin/python`
records the pip commands it is given instead of installing (so the test needs no network and
leaves the real venv alone); what is checked is which installs the stamps let through.
"""

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV_ONLY = {
    "pyspark",
    "playwright",
    "pytest",
    "pytest-timeout",
    "pytest-xdist",
    "ruff",
    "jsonschema",
    "sqlglot",
}


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0]


def test_runtime_dependencies_leave_the_test_and_spark_tools_to_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r).strip().lower() for r in project["dependencies"]}
    dev = {_name(r).strip().lower() for r in project["optional-dependencies"]["dev"]}
    assert "dagster" in runtime and not runtime & DEV_ONLY
    assert {"pyspark", "playwright", "pytest"} <= dev


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A copy of the scripts and pyproject.toml, with a venv whose python records pip calls."""
    root = tmp_path / "clone with space"
    (root / "scripts").mkdir(parents=True)
    for name in ("bootstrap.sh", "run.sh", "test.sh"):
        (root / "scripts" / name).write_bytes((ROOT / "scripts" / name).read_bytes())
    (root / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text('#!/usr/bin/env bash\necho "$*" >> "$(dirname "$0")/../pip.log"\n')
    python.chmod(0o755)
    return root


def bootstrap(root: Path, *extras: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", 'source scripts/bootstrap.sh "$@" && echo "PATH=$PATH"', "bash", *extras],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def installs(root: Path) -> list[str]:
    log = root / ".venv" / "pip.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split(" -e ", 1)[1] for line in lines if " -e " in line]


def test_run_then_test_adds_dev_and_test_then_run_installs_nothing(clone: Path) -> None:
    assert bootstrap(clone, "runtime").returncode == 0
    assert installs(clone) == [str(clone)]  # no extra: runtime only
    done = bootstrap(clone, "dev")
    assert done.returncode == 0 and f"PATH={clone}/.venv/bin:" in done.stdout
    assert installs(clone) == [str(clone), f"{clone}[dev]"]
    for extras in ("runtime", "dev", "runtime"):
        assert bootstrap(clone, extras).returncode == 0
    assert len(installs(clone)) == 2  # both sets stamped: nothing reinstalled


def test_test_then_run_installs_once(clone: Path) -> None:
    assert bootstrap(clone, "dev").returncode == 0
    assert bootstrap(clone, "runtime").returncode == 0
    assert installs(clone) == [f"{clone}[dev]"]


def test_a_changed_pyproject_reinstalls_the_set_asked_for(clone: Path) -> None:
    assert bootstrap(clone, "dev").returncode == 0
    with (clone / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency would go here\n")
    assert bootstrap(clone, "runtime").returncode == 0
    assert installs(clone) == [f"{clone}[dev]", str(clone)]


@pytest.mark.parametrize("argv", [(), ("dev", "spark"), ("dev; rm -rf /",), ("-m",)])
def test_bootstrap_without_one_plain_extra_is_a_usage_error(clone: Path, argv: tuple) -> None:
    done = bootstrap(clone, *argv)
    assert done.returncode == 2 and "usage: source scripts/bootstrap.sh" in done.stderr
    assert installs(clone) == []


@pytest.mark.parametrize(("script", "extras"), [("run.sh", "runtime"), ("test.sh", "dev")])
def test_each_readme_command_asks_for_its_set(script: str, extras: str) -> None:
    lines = (ROOT / "scripts" / script).read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if "bootstrap.sh" in line] == [
        f"source scripts/bootstrap.sh {extras}"
    ]
