"""A standalone Spark cluster on this machine: one master and its workers on 127.0.0.1.

The slow cluster test and the engines benchmark run the Spark engine against a real
cluster, not `local[N]`; this is their one copy of starting and stopping it. The
processes come from the pyspark package's own launcher (`bin/spark-class`, Java 17
only), each in a session of its own so that killing its process group also kills the
executors a worker launched. `standalone_cluster` returns once the master's JSON page
lists every worker alive and stops every process when its block ends, however it ends
(SIGTERM included).
Logs, the workers' work dirs and the executors' scratch space live in the folder given
(a temporary one by default), never in the checkout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
MASTER_PORT = 7077  # the standalone default; a free port if something else holds it
WORKERS = 2
WORKER_CORES = 1
WORKER_MEMORY = "768m"  # what a worker may grant its executor (its JVM heap)
START_TIMEOUT_S = 120.0
POLL_S = 0.5
STOP_TIMEOUT_S = 30.0
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# The JVM class of an executor a worker launches; its command line names the application.
EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


@dataclass(frozen=True)
class StandaloneCluster:
    """A running cluster: its master URL, its web UI, the folder of its logs."""

    url: str  # spark://127.0.0.1:<port>, the session's master string
    ui_url: str  # the master's web UI; `<ui_url>/json/` describes the workers
    folder: Path  # <name>.log per process, worker<i>/ work dirs, local/ scratch
    pids: tuple[int, ...]  # the master's and the workers' JVMs (their own executors aside)


def session_conf(executor_memory: str = WORKER_MEMORY, workers: int = WORKERS) -> dict[str, str]:
    """A driver's settings for this cluster: one executor per worker with the worker's
    cores and `executor_memory` (at most the worker's memory), the driver on 127.0.0.1;
    the session starts once every executor has registered (so a job's first seconds are
    not the executors' start-up)."""
    return {
        "spark.executor.memory": executor_memory,
        "spark.executor.cores": str(WORKER_CORES),
        "spark.cores.max": str(workers * WORKER_CORES),
        "spark.driver.host": HOST,
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
    }


def free_port(preferred: int = 0) -> int:
    """`preferred` if nothing on 127.0.0.1 holds it, else a port the kernel picks."""
    with socket.socket() as sock:
        try:
            sock.bind((HOST, preferred))
        except OSError:
            sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def alive_workers(ui_url: str) -> int:
    """How many workers the master lists as alive (0 while its web UI is not up)."""
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=5) as page:
            state = json.load(page)
    except (OSError, ValueError):
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


def executor_pids(app_id: str) -> list[int]:
    """The executor JVMs of application `app_id` on this machine (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if EXECUTOR_CLASS.encode() in args and app_id.encode() in args:
            found.append(int(proc.name))
    return found


def _spark_class() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home()) / "bin" / "spark-class"


def _log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _wait(
    ready: Callable[[], bool], procs: dict[str, subprocess.Popen], folder: Path, what: str
) -> None:
    """Poll `ready()` until true; a process that exits or the timeout raises, with its log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        for name, proc in procs.items():
            if proc.poll() is not None:
                log = _log_tail(folder / f"{name}.log")
                raise RuntimeError(f"{name} exited ({proc.returncode}) before {what}:\n{log}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{_log_tail(folder / f'{n}.log')}" for n in procs)
            raise RuntimeError(f"not {what} within {START_TIMEOUT_S:.0f} s:\n{logs}")
        time.sleep(POLL_S)


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    """Kill each process group (a worker's executors with it) and reap the launchers."""
    for proc in procs.values():
        if proc.poll() is None:
            with suppress(ProcessLookupError):  # exited meanwhile
                os.killpg(proc.pid, signal.SIGKILL)
    for proc in procs.values():
        proc.wait(timeout=STOP_TIMEOUT_S)


def _exit_on_terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_on_terminate(stack: ExitStack) -> None:
    """While the block is open, SIGTERM (a `timeout`, a scheduler stopping the job) ends
    it as an exception does, so the processes are killed: Python's default for SIGTERM
    ends the process without unwinding, and the JVMs would outlive it, holding their
    ports and memory. Only the main thread may set a handler; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_terminate)
    stack.callback(signal.signal, signal.SIGTERM, previous or signal.SIG_DFL)


@contextmanager
def standalone_cluster(
    folder: Path | None = None,
    workers: int = WORKERS,
    worker_memory: str = WORKER_MEMORY,
) -> Iterator[StandaloneCluster]:
    """A master and `workers` one-core workers on 127.0.0.1, every worker registered;
    every process killed when the block ends. Without `folder`, a temporary folder,
    deleted afterwards."""
    with ExitStack() as stack:
        work = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fs_spark_")))
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_LOCAL_DIRS": str(work / "local")}
        procs: dict[str, subprocess.Popen] = {}
        stack.callback(_stop, procs)
        _stop_on_terminate(stack)

        def start(name: str, *args: str) -> None:
            with (work / f"{name}.log").open("wb") as log:
                procs[name] = subprocess.Popen(
                    [str(_spark_class()), *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, its executors in it
                )

        port, ui_port = free_port(MASTER_PORT), free_port()
        ports = ("--port", str(port), "--webui-port", str(ui_port))
        start("master", MASTER_CLASS, "--host", HOST, *ports)
        _wait(lambda: listening(port), procs, work, "the master listened")
        url, ui_url = f"spark://{HOST}:{port}", f"http://{HOST}:{ui_port}"
        for i in range(workers):
            sizes = ("--cores", str(WORKER_CORES), "--memory", worker_memory)
            dirs = ("--webui-port", str(free_port()), "--work-dir", str(work / f"worker{i}"))
            start(f"worker{i}", WORKER_CLASS, url, "--host", HOST, *sizes, *dirs)
        registered = f"{workers} workers registered"
        _wait(lambda: alive_workers(ui_url) >= workers, procs, work, registered)
        yield StandaloneCluster(url, ui_url, work, tuple(p.pid for p in procs.values()))
