"""Migration 0010 gives the fields cancelled before it their reason, read from the message
they carried, so that a completion mail still owed after the upgrade says who cancelled."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("extraction", "0009_request_mail_owed_index")]
AFTER = [("extraction", "0010_field_cancel_reason")]


@pytest.fixture
def latest_schema_after():
    """Leave the database at the latest migration for the tests that follow."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_old_cancelled_fields_get_their_reason_from_their_message(latest_schema_after) -> None:
    executor = MigrationExecutor(connection)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "extraction"]
    executor.migrate(others + BEFORE)
    apps = executor.loader.project_state(others + BEFORE).apps
    User = apps.get_model("accounts", "User")
    Request = apps.get_model("extraction", "Request")
    Field = apps.get_model("extraction", "Field")
    user = User.objects.create(username="hubble", email="edwin@example.org")
    request = Request.objects.create(user=user, source="web")
    messages = {
        "owner": "cancelled at the owner's request",
        "staff": "cancelled by the archive staff",
        "staging-deleted": "cancelled: staging directory dss-20261201-abc was deleted (expired) "
        "before this field was made.",
        "": "no plate covers this field",
    }
    for n, message in enumerate(messages.values(), start=1):
        status = "skipped" if n == len(messages) else "cancelled"
        Field.objects.create(
            request=request,
            line_no=n,
            stem=f"f{n}",
            raw_line="f 0 0 0 0 0 0 1 1 J2000 DSS1 e G",
            ra_deg=0.0,
            dec_deg=0.0,
            width_arcmin=1,
            height_arcmin=1,
            status=status,
            message=message,
        )

    executor = MigrationExecutor(connection)
    executor.migrate(others + AFTER)
    Field = executor.loader.project_state(others + AFTER).apps.get_model("extraction", "Field")
    reasons = dict(Field.objects.values_list("message", "cancel_reason"))
    assert reasons == {message: reason for reason, message in messages.items()}
