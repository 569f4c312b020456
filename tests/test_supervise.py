"""The supervisor of ``make run``/``make serve`` (dssportal.infra.supervise), with real
processes: a service that stops is started again, without what it left behind; one that keeps
stopping stops everything."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dssportal.infra.supervise import RESTART_LIMIT, supervise

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parent.parent


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"waited {timeout} s for {path.name}"
        time.sleep(0.1)
    return path.read_text().strip()


def test_a_service_that_stops_is_started_again_and_nothing_it_left_runs_on(
    tmp_path: Path,
) -> None:
    # First run: leaves a helper behind in its process group, then dies as if killed.
    # Second run: says so and stays.
    service = textwrap.dedent(
        f"""
        import os, pathlib, signal, subprocess, time
        folder = pathlib.Path({str(tmp_path)!r})
        if not (folder / "helper").exists():
            helper = subprocess.Popen(["sleep", "60"])
            (folder / "helper").write_text(str(helper.pid))
            os.kill(os.getpid(), signal.SIGKILL)
        (folder / "second").write_text(str(os.getpid()))
        time.sleep(60)
        """
    )
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from dssportal.infra.supervise import supervise; "
            f"sys.exit(supervise({{'svc': [sys.executable, '-c', {service!r}]}}, print))",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        helper = int(wait_for(tmp_path / "helper"))
        second = int(wait_for(tmp_path / "second"))
        assert alive(second) and supervisor.poll() is None
        assert not alive(helper), "what the stopped service left behind still runs"
        supervisor.send_signal(signal.SIGTERM)
        out, _ = supervisor.communicate(timeout=30)
        assert supervisor.returncode == 0
        assert "svc stopped (exit status -9); starting it again." in out
        assert not alive(second)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_a_service_that_keeps_stopping_stops_everything(tmp_path: Path) -> None:
    said: list[str] = []
    pid_file = tmp_path / "steady"
    steady = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    started = time.monotonic()
    status = supervise(
        {
            "steady": [sys.executable, "-c", steady],
            "broken": [sys.executable, "-c", "raise SystemExit(3)"],
        },
        said.append,
    )
    assert status == 1
    assert time.monotonic() - started < 30
    assert said.count("broken stopped (exit status 3); starting it again.") == RESTART_LIMIT - 1
    assert said[-1] == f"broken stopped {RESTART_LIMIT} times within 60 s; stopping the rest."
    assert not alive(int(wait_for(pid_file)))
