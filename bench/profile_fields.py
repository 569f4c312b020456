"""Where a field's time goes: cProfile of the grouped extraction task, in one process.

BENCH_FIELDS (default 300) 10'x10' DSS2 gzip fields on the full-size bench plate are stored as
one request (nothing enqueued), then extracted by ``extract_fields`` in groups of
DSSPORTAL_FIELDS_PER_TASK, as a worker would: the first half timed plainly against the
single-field floor (decode + gzip-1 + write, as bench_pipeline measures it), the second half
under cProfile; prints ms per field and the top functions by cumulative time. On whatever
DATABASE_URL says (SQLite by default):

    .venv/bin/python bench/profile_fields.py [N_TOP]
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time

from _common import best_of
from bench_extraction import plate_and_floor, request_text


def main() -> None:
    n_top = int(sys.argv[1]) if len(sys.argv) > 1 else 35
    n_fields = int(os.environ.get("BENCH_FIELDS", "300"))
    from django.conf import settings

    from accounts.services import user_create
    from extraction import tasks
    from extraction.services import queue
    from extraction.services.requests import request_create_from_text

    path, floor = plate_and_floor()
    user = user_create(username="prof", email="prof@example.org", password="x", quota_mb=100_000)
    queue.enqueue_fields = lambda field_ids, **_: None  # store only; the profile runs them below
    request = request_create_from_text(
        user=user, text=request_text(path, n_fields), source="api"
    ).request
    ids = list(request.fields.order_by("pk").values_list("pk", flat=True))
    per_task = settings.DSSPORTAL_FIELDS_PER_TASK
    groups = [ids[i : i + per_task] for i in range(0, len(ids), per_task)]
    tasks.extract_fields(groups.pop(0))  # warm: plate open, WCS built, imports done
    plain, groups = groups[: len(groups) // 2], groups[len(groups) // 2 :]
    # The best group, as the floor is the best of its runs: the least disturbed by other load.
    per_field = min(best_of(lambda g=g: tasks.extract_fields(g), 1) / len(g) for g in plain)
    print(
        f"{sum(len(g) for g in plain)} fields, best group: {per_field * 1000:.1f} ms/field in "
        f"one process; floor {floor * 1000:.1f} ms -> {per_field / floor:.2f}x"
    )
    n_profiled = sum(len(g) for g in groups)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for group in groups:
        tasks.extract_fields(group)
    profile.disable()
    elapsed = time.perf_counter() - started
    request.refresh_from_db()
    print(
        f"{n_profiled} fields in groups of {per_task}: {elapsed / n_profiled * 1000:.1f} "
        f"ms/field under cProfile; request {request.status}, {request.n_done} done"
    )
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
    stats.print_stats(n_top)
    stats.print_callees("cutout_build|_publish|_field_extract_leased")
    print(out.getvalue())


if __name__ == "__main__":
    main()
