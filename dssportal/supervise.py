"""Run a few long-lived commands side by side and stop them together (runportal, serveportal)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from types import FrameType

#: How long children get to finish what they are doing before they are killed.
STOP_GRACE_SECONDS = 15


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def supervise(services: dict[str, list[str]], say: Callable[[str], None]) -> int:
    """Start every service; when one stops, or on Ctrl-C or SIGTERM, stop all of them.

    Returns 0 after a requested stop, 1 when a service stopped by itself.
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    children = {name: subprocess.Popen(argv) for name, argv in services.items()}
    status = 0
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        stopped = [name for name, child in children.items() if child.poll() is not None]
        say(f"{', '.join(stopped)} stopped; stopping the rest.")
        status = 1
    except KeyboardInterrupt:
        say(f"\nStopping {', '.join(children)}...")
    finally:
        for child in children.values():
            if child.poll() is None:
                # SIGTERM: gunicorn finishes its requests, qcluster its tasks, then they exit.
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        signal.signal(signal.SIGTERM, previous)
    return status
