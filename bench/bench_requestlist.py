"""Throughput of the request-list parser.

Run: ``.venv/bin/python bench/bench_requestlist.py``. Parses 10,000 random valid J2000
lines and 10,000 random valid B1950 lines (fixed seed; the B1950 figure includes the
vectorised FK4 -> FK5 conversion), best of a few runs, and compares each with a baseline
measured in the same process: ``str.split()`` of every line, the floor of reading the
text. Prints; never asserts.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extraction.text.requestlist import parse_request_list

N_LINES = 10_000
RUNS = 5
TARGET_LINES_PER_S = 20_000.0
SEED = 20261124


def random_line(rng: random.Random, index: int, equinox: str) -> str:
    """One valid request line with a random position, size, survey, mode and compression."""
    sign = rng.choice(["", "+", "-"])
    mode = rng.choice(["e", "c", "n", "E", "04IN", "0025", "A0Q5"])
    columns = [
        f"field{index:05d}",
        str(rng.randrange(24)),
        f"{rng.randrange(60):02d}",
        f"{rng.uniform(0, 59.99):.2f}",
        f"{sign}{rng.randrange(90):02d}",
        str(rng.randrange(60)),
        f"{rng.uniform(0, 59.9):.1f}",
        f"{rng.uniform(0.5, 60):.1f}",
        f"{rng.uniform(0.5, 60):.0f}.",
        equinox if rng.random() < 0.5 else equinox.lower(),
        rng.choice(["DSS1", "DSS2", "dss2r", "DSS2B", "DSS2I"]),
        mode,
    ]
    if rng.random() < 0.7:
        columns.append(rng.choice("GBXUgbxu"))
    return rng.choice(["\t", " ", "   "]).join(columns)


def split_every_line(text: str) -> list[list[str]]:
    """The baseline: the least any parser must do, read every line and split it."""
    return [line.split() for line in text.splitlines()]


def best_of(function: Callable[[], object], runs: int = RUNS) -> float:
    """Best wall-clock time of ``runs`` calls, seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rng = random.Random(SEED)
    texts = {
        equinox: "\n".join(random_line(rng, i, equinox) for i in range(N_LINES)) + "\n"
        for equinox in ("J2000", "B1950")
    }

    # Warm up (imports astropy once, so that the runs measure parsing, not importing).
    start = time.perf_counter()
    parse_request_list(texts["B1950"], max_lines=N_LINES)
    print(f"first B1950 parse (includes importing astropy): {time.perf_counter() - start:.2f} s")

    print(f"{N_LINES} lines per run, best of {RUNS} runs; target > {TARGET_LINES_PER_S:,.0f}/s")
    for equinox, text in texts.items():
        parsed = parse_request_list(text, max_lines=N_LINES)
        if len(parsed.fields) != N_LINES:  # the generator is broken, not the parser
            print(f"{equinox}: only {len(parsed.fields)} valid lines: {parsed.errors[:3]}")

        baseline = best_of(partial(split_every_line, text))
        elapsed = best_of(partial(parse_request_list, text, max_lines=N_LINES))
        rate = N_LINES / elapsed
        verdict = "met" if rate > TARGET_LINES_PER_S else "NOT met"
        print(
            f"{equinox}: {rate:>10,.0f} lines/s ({elapsed * 1e3:6.1f} ms); "
            f"baseline split {N_LINES / baseline:>12,.0f} lines/s; "
            f"parse/baseline time ratio {elapsed / baseline:5.1f}x; target {verdict}"
        )


if __name__ == "__main__":
    main()
