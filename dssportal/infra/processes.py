"""Small Linux process helpers shared by the supervisor and the task cluster's keeper."""

from __future__ import annotations

import contextlib
import ctypes
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent ends (Linux only).

    The setting is not inherited across fork: every process that should die with its parent
    calls this itself, right after it is forked.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)


def descendant_pids(root: int) -> list[int]:
    """Every process below ``root`` (Linux /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, frontier = [], [root]
    while frontier:
        below = [pid for parent in frontier for pid in children.get(parent, [])]
        found += below
        frontier = below
    return found
