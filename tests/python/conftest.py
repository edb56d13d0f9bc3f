"""Real optbench-coordinator and optbench-worker processes for the Python package's tests, from
the build directory $OPTBENCH_BUILD_DIR (default: build/ of this checkout), on free loopback ports
with their database in a temp dir; always stopped, logs shown when a test fails."""

import os
import pathlib
import signal
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("OPTBENCH_BUILD_DIR", REPO / "build"))
COORDINATOR = BUILD / "server" / "optbench-coordinator"
WORKER = BUILD / "worker" / "optbench-worker"
CLI = BUILD / "client" / "optbench"


class Service:
    """A coordinator (and its workers) in `directory`. start() waits until it listens; stop()
    ends every process it started: SIGTERM, then SIGKILL after 10 s."""

    def __init__(self, directory, coordinator_flags=(), worker_flags=()):
        self.dir = pathlib.Path(directory)
        self.db = self.dir / "optbench.db"
        self.coordinator_flags = list(coordinator_flags)
        self.worker_flags = list(worker_flags)
        self.processes = {}
        self.address = None

    def _spawn(self, name, argv):
        for binary in (COORDINATOR, WORKER):
            if not binary.exists():
                pytest.fail(f"{binary} is missing: build optbench first (scripts/setup), or set "
                            "OPTBENCH_BUILD_DIR to its build directory")
        log = open(self.dir / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start(self, workers=2):
        port_file = self.dir / "port"
        self._spawn("coordinator", [
            str(COORDINATOR), "--listen=127.0.0.1:0", f"--db={self.db}",
            f"--port_file={port_file}", "--drain_seconds=0", *self.coordinator_flags])
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.processes["coordinator"].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the coordinator did not start:\n{self.logs()}")
            time.sleep(0.02)
        self.address = f"127.0.0.1:{int(port_file.read_text())}"
        for i in range(workers):
            self._spawn(f"worker{i}", [str(WORKER), f"--coordinator={self.address}",
                                       "--slots=1", f"--worker_id=w{i}", *self.worker_flags])
        return self

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.dir.glob("*.log")))

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    s = Service(tmp_path_factory.mktemp("service")).start()
    yield s
    s.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A failed test shows what the processes it used logged.
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name in ("service", "secure_service"):
            s = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(s, Service):
                report.sections.append((f"{name} logs", s.logs()))
