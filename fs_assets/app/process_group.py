"""Run a long-lived command tree (`dagster dev`) so that stopping the caller stops all of it.

`dagster dev` starts a webserver, a daemon and code servers. Started as a plain child, a
SIGTERM to `fs-accelerator ui` ended only the wrapper and left the rest holding the port.
Here the command gets a process group of its own; Ctrl-C, SIGTERM and SIGHUP are passed
to its leader (which shuts its services down in order), and whatever is still alive after
a bounded grace period, or after the leader is gone, is killed with the group. On Linux
the leader also gets SIGTERM if the caller itself is killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_S = 30.0  # dagster dev gives each service 10s, then kills it
KILL_WAIT_S = 5.0
POLL_S = 0.2
PR_SET_PDEATHSIG = 1


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the group; via /proc, else any signalable member."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while listing
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def stop_group(pgid: int, grace_s: float) -> None:
    """SIGTERM to what is left of the group, then SIGKILL after `grace_s`."""
    if not group_members(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    if not _wait_group_gone(pgid, grace_s):
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(pgid, KILL_WAIT_S)


def _child_setup(parent: int) -> Callable[[], None]:
    """Runs in the child before exec: default stop signals, and on Linux SIGTERM when the
    caller dies. A caller started with SIGINT ignored (`cmd &` in a script) would otherwise
    pass that on, and dagster dev maps SIGTERM to its SIGINT handler: both ignored."""

    def setup() -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the caller died before the line above
                os._exit(1)

    return setup


def run_group(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    grace_s: float = STOP_GRACE_S,
) -> int:
    """Run `cmd` in its own process group until it ends or the caller is told to stop.

    Returns the command's exit code, or 128 + the signal number when stopped by a signal.
    """
    received: list[int] = []
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
        preexec_fn=_child_setup(os.getpid()),
    )
    pgid = proc.pid

    def on_signal(signum: int, _frame: object) -> None:
        if received:  # asked twice: do not wait any longer
            _signal_group(pgid, signal.SIGKILL)
        else:
            forwarded = signal.SIGTERM if signum == signal.SIGHUP else signum
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, forwarded)
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        deadline: float | None = None
        while proc.poll() is None:
            if received and deadline is None:
                deadline = time.monotonic() + grace_s
            if deadline is not None and time.monotonic() >= deadline:
                _signal_group(pgid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(POLL_S)
        # The leader is gone; so must be anything it started (a code server, a run).
        stop_group(pgid, grace_s if not received else KILL_WAIT_S)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + received[0] if received else proc.returncode
