"""Run a few long-lived commands side by side and stop them together (runportal, serveportal).

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
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

#: How long children get to finish what they are doing before their process groups are killed.
STOP_GRACE_SECONDS = 10

_PR_SET_PDEATHSIG = 1


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux), default SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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


def supervise(services: dict[str, list[str]], say: Callable[[str], None]) -> int:
    """Start every service; when one stops, or on Ctrl-C, SIGINT or SIGTERM, stop all of them.

    Returns 0 after a requested stop, 1 when a service stopped by itself.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in stop_signals}
    children: dict[str, subprocess.Popen[bytes]] = {}
    status = 0
    try:
        for name, argv in services.items():
            children[name] = _start(argv)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        stopped = [name for name, child in children.items() if child.poll() is not None]
        say(f"{', '.join(stopped)} stopped; stopping the rest.")
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
