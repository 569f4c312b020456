"""Enqueueing: a large request goes out as a few multi-field tasks, a small one field by field,
and every field is done either way (tasks run inline in the test settings)."""

from __future__ import annotations

import pytest

from extraction.services import queue
from extraction.services.requests import request_create_from_text
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "f{n:02d} 14 29 56 -62 41 05 0.5 0.5 J2000 DSS1 0025 U"


@pytest.mark.parametrize(("n_fields", "n_tasks"), [(3, 3), (40, 8)])
def test_fields_are_grouped_into_tasks_and_all_done(
    n_fields, n_tasks, make_user, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}
    settings.DSSPORTAL_FIELDS_PER_TASK = 8
    register_real_dss_plate()
    sent: list[tuple[str, object]] = []
    real_async_task = queue.async_task

    def spy(func: str, *args: object, **kwargs: object) -> object:
        sent.append((func, args[0]))
        return real_async_task(func, *args, **kwargs)

    monkeypatch.setattr(queue, "async_task", spy)
    text = "\n".join(LINE.format(n=n) for n in range(n_fields))
    with django_capture_on_commit_callbacks(execute=True):
        request = request_create_from_text(user=make_user(), text=text, source="mail").request

    assert len(sent) == n_tasks
    handed_out = [
        field_id for _, arg in sent for field_id in (arg if isinstance(arg, list) else [arg])
    ]
    assert sorted(handed_out) == sorted(request.fields.values_list("pk", flat=True))
    request.refresh_from_db()
    assert (request.status, request.n_done) == ("done", n_fields)
