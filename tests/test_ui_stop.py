"""Stopping `fs-accelerator ui` stops everything it started: webserver, daemon, code servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_dev import Dagster, free_port, wait_for

from fs_assets.model.paths import PROJECT_ROOT, DataPaths

BIN = Path(sys.executable).parent
STOP_BOUND_S = 60  # the wrapper's grace period (30 s) plus margin on a busy machine

# A leader that starts two grandchildren: one that exits on SIGTERM, one that ignores it.
TREE = """
import signal, subprocess, sys, time
pids = sys.argv[1]
kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]),
        subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])]
with open(pids, "w") as f:
    f.write(" ".join(str(k.pid) for k in kids))
time.sleep(600)
"""
WRAPPER = """
import sys
from pathlib import Path
from fs_assets.app.process_group import run_group
code = run_group([sys.executable, "-c", sys.argv[1], sys.argv[2]], cwd=Path.cwd(),
                 env={}, grace_s=float(sys.argv[3]))
raise SystemExit(code)
"""


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """Every live process below `root`, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = parent_of(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for kid in children.get(todo.pop(), []):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return {p for p in found if alive(p)}


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    end = time.monotonic() + timeout
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < end:
        time.sleep(0.5)
    return left


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """run_group (grace 2 s) over a leader whose grandchildren outlive it or ignore SIGTERM."""
    pids = tmp_path / "pids"
    wrapper = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, TREE, str(pids), "2"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        start_new_session=True,
    )
    wait_for("the process tree", lambda: pids.exists() and pids.read_text().strip(), 60)
    started = descendants(wrapper.pid)
    try:
        yield wrapper, pids
    finally:
        kill_all(started | {wrapper.pid})


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_whole_group(
    tree: tuple[subprocess.Popen, Path], sig: signal.Signals
) -> None:
    wrapper, _pids = tree
    tree_pids = descendants(wrapper.pid)
    assert len(tree_pids) == 3  # leader and two grandchildren
    wrapper.send_signal(sig)
    assert wrapper.wait(timeout=30) == 128 + sig
    assert not wait_gone(tree_pids, 10)


def test_the_leader_ends_when_the_wrapper_is_killed(
    tree: tuple[subprocess.Popen, Path],
) -> None:
    wrapper, _ = tree
    (leader,) = [p for p in descendants(wrapper.pid) if parent_of(p) == wrapper.pid]
    wrapper.kill()
    wrapper.wait(timeout=30)
    assert not wait_gone({leader}, 10)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_fs_accelerator_ui_frees_the_port(
    home: DataPaths, tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen(
        [str(BIN / "fs-accelerator"), "ui", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "FS_ACCELERATOR_HOME": str(home.home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started: set[int] = set()
    try:
        client = Dagster(port)
        wait_for("the webserver", lambda: client.query("{ version }")["version"], 240)
        # webserver, daemon and their code servers are up once the location has loaded
        wait_for(
            "the code location",
            lambda: (
                client.query(
                    "{ workspaceOrError { ... on Workspace { locationEntries {"
                    " locationOrLoadError { __typename } } } } }"
                )["workspaceOrError"]["locationEntries"][0]["locationOrLoadError"]["__typename"]
                == "RepositoryLocation"
            ),
            240,
        )
        started = descendants(ui.pid)
        assert len(started) >= 4, started  # dagster dev, webserver, daemon, code server(s)
        ui.send_signal(sig)
        assert ui.wait(timeout=STOP_BOUND_S) == 128 + sig
        left = wait_gone(started, 10)
        assert not left, f"still running after {sig.name}: {sorted(left)}"
        assert port_free(port)
    finally:
        kill_all(started | {ui.pid})
        log.close()
