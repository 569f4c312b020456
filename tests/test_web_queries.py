"""What the busiest pages cost the database (issue 13, web under load): the status JSON is polled
every 1.5 s by every open request page, so its queries are pinned here, and none of the pages
may cost more with more fields or more requests (no N+1), nor read the list as received."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from extraction.models import FieldStatus, Request
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "f{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"

#: session, user, request (+ its staging directory), fields per state, the page's fields
PAGE_QUERIES = 5
#: session, user; the form's catalogue check of plate ids; lock the user, insert the request,
#: the two quota sums, insert the fields (with their keys returned: not read back), update
#: the request
SUBMISSION_QUERIES = 9


@pytest.fixture
def user(client, make_user):
    register_real_dss_plate()
    user = make_user("hubble", "edwin@example.org")
    client.force_login(user)
    return user


def submit(client, n_fields: int, *, served: bool, capture) -> Request:
    text = "\n".join(LINE.format(n=n) for n in range(n_fields))
    with capture(execute=served):
        response = client.post(reverse("request-list"), {"text": text})
    assert response.status_code == 302
    return Request.objects.latest("pk")


def request_selects(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if 'FROM "extraction_request"' in q["sql"]]


@pytest.mark.parametrize("n_fields", [1, 7])
@pytest.mark.parametrize("served", [False, True], ids=["queued", "served"])
def test_request_page_and_status_json_cost_the_same_few_queries_however_many_fields(
    client, user, django_capture_on_commit_callbacks, n_fields, served
) -> None:
    item = submit(client, n_fields, served=served, capture=django_capture_on_commit_callbacks)
    assert item.fields.filter(status=FieldStatus.DONE).count() == (n_fields if served else 0)
    for name in ("request-detail", "request-status"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(name, args=[item.pk]))
        assert response.status_code == 200
        assert len(queries.captured_queries) == PAGE_QUERIES, [
            q["sql"] for q in queries.captured_queries
        ]
        (select,) = request_selects(queries)
        assert '"raw_text"' not in select and "extraction_stagingdirectory" in select
    status = client.get(reverse("request-status", args=[item.pk])).json()
    assert status["n_fields"] == n_fields and len(status["fields"]) == n_fields
    page = client.get(reverse("request-detail", args=[item.pk])).content.decode()
    assert ("All files as one zip" in page) is served


@pytest.mark.parametrize("n_lines", [1, 9])
def test_a_submission_parses_once_and_costs_the_same_queries_however_many_lines(
    client, user, n_lines
) -> None:
    text = "\n".join(LINE.format(n=n) for n in range(n_lines))
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("request-list"), {"text": text})
    assert response.status_code == 302
    sql = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(sql) == SUBMISSION_QUERIES, sql
    assert sum('FROM "extraction_plate"' in q for q in sql) == 1  # the list is parsed once
    assert Request.objects.get().n_fields == n_lines


@pytest.mark.parametrize("n_requests", [1, 4])
def test_the_request_list_costs_the_same_queries_however_many_requests(
    client, user, django_capture_on_commit_callbacks, n_requests
) -> None:
    for n in range(n_requests):
        submit(client, 1, served=n % 2 == 0, capture=django_capture_on_commit_callbacks)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("request-list"))
    assert response.status_code == 200
    # session, user, the count for the pages, the requests with their staging
    assert len(queries.captured_queries) == 4
    count, select = request_selects(queries)
    assert "COUNT(" in count.upper()
    assert '"raw_text"' not in select and '"rejected_lines"' not in select
    assert response.content.decode().count('href="/requests/') >= n_requests


def test_a_large_request_is_shown_a_page_of_fields_at_a_time(
    client, user, django_capture_on_commit_callbacks
) -> None:
    """250 fields: pages of 100, 100 and 50 rows, each page and its status JSON costing the
    same queries, with the progress of the whole request on every page."""
    item = submit(client, 250, served=False, capture=django_capture_on_commit_callbacks)
    item.fields.filter(line_no__lte=30).update(status=FieldStatus.SKIPPED)
    for number, rows, first_line in ((1, 100, 1), (2, 100, 101), (3, 50, 201), (9, 50, 201)):
        url = reverse("request-detail", args=[item.pk]) + f"?page={number}"
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url).content.decode()
        assert len(queries.captured_queries) == PAGE_QUERIES
        assert page.count('<tr id="field-') == rows
        assert f'<td data-label="line">{first_line}</td>' in page
        assert 'value="30"' in page and 'max="250"' in page  # the whole request's progress
        status_url = reverse("request-status", args=[item.pk]) + f"?page={number}"
        assert f'data-status-url="{status_url.replace("?page=9", "?page=3")}"' in page
        with CaptureQueriesContext(connection) as queries:
            status = client.get(status_url).json()
        assert len(queries.captured_queries) == PAGE_QUERIES
        assert (status["n_fields"], status["n_ended"], status["pages"]) == (250, 30, 3)
        assert [f["line_no"] for f in status["fields"]] == list(
            range(first_line, first_line + rows)
        )
