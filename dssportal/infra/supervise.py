"""Run a few long-lived commands side by side and stop them together (runportal, serveportal).

A child that stops by itself (killed, crashed) is started again, as systemd's ``Restart=``
does for the deploy/ units: first its process group is killed, so that nothing it left
behind keeps running beside the new one. One that stops ``RESTART_LIMIT`` times within
``RESTART_WINDOW_SECONDS`` is broken (a port taken, a bad setting): everything stops then.

Each child leads its own process group, so the supervisor decides how it is stopped: SIGTERM
to the child's main process (gunicorn finishes its requests, qcluster the fields in hand), as
systemd's ``KillMode=mixed`` does, and SIGKILL to the whole group of any child still there
after the grace time, so that no worker of a child outlives it. A terminal's Ctrl-C reaches
only the supervisor, which stops the children the same way; SIGINT or SIGTERM sent to the
supervisor alone does too, even when it was started with SIGINT ignored (in the background
of a script). Should the supervisor itself be killed, the kernel sends each child SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from types import FrameType

from dssportal.infra.processes import die_with_parent

#: How long children get to finish what they are doing before their process groups are killed.
STOP_GRACE_SECONDS = 10
#: A child that stops this many times within the window is not started again.
RESTART_LIMIT = 3
RESTART_WINDOW_SECONDS = 60.0


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux), default SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent(signal.SIGTERM)


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, process_group=0, preexec_fn=_die_with_parent)


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The child's own workers (gunicorn's, qcluster's) go with it, whatever its state.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


def _restart_stopped(
    services: dict[str, list[str]],
    children: dict[str, subprocess.Popen[bytes]],
    stops: dict[str, list[float]],
    say: Callable[[str], None],
) -> str | None:
    """Start again every child that stopped; the name of one that stops too often (then
    nothing is started again)."""
    now = time.monotonic()
    for name, child in children.items():
        if child.poll() is None:
            continue
        _kill_group(child)  # whatever it left behind must not run beside the new one
        stops[name] = [at for at in stops[name] if now - at < RESTART_WINDOW_SECONDS] + [now]
        if len(stops[name]) >= RESTART_LIMIT:
            return name
        say(f"{name} stopped (exit status {child.returncode}); starting it again.")
        children[name] = _start(services[name])
    return None


def supervise(services: dict[str, list[str]], say: Callable[[str], None]) -> int:
    """Start every service and restart one that stops; on Ctrl-C, SIGINT or SIGTERM, or when
    one stops too often, stop all of them.

    Returns 0 after a requested stop, 1 when a service stopped too often.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in stop_signals}
    children: dict[str, subprocess.Popen[bytes]] = {}
    stops: dict[str, list[float]] = {name: [] for name in services}
    status = 0
    try:
        for name, argv in services.items():
            children[name] = _start(argv)
        broken = None
        while broken is None:
            time.sleep(0.5)
            broken = _restart_stopped(services, children, stops, say)
        say(
            f"{broken} stopped {RESTART_LIMIT} times within {RESTART_WINDOW_SECONDS:.0f} s; "
            "stopping the rest."
        )
        status = 1
    except KeyboardInterrupt:
        say(f"\nStopping {', '.join(children)}...")
    finally:
        # A second Ctrl-C must not cut the stop short and leave children behind.
        for signum in stop_signals:
            signal.signal(signum, signal.SIG_IGN)
        _stop(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
