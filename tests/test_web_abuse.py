"""Issue 24 on the web side: GET never changes anything, request bodies are capped before
they are read, and every answer under /api/ is JSON, an outage included."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tokens import api_token_create
from tests.test_downloads import staged  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_a_get_with_a_token_never_deletes_a_staging_directory(staged):  # noqa: F811
    user, directory = staged
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=user)[1]}"}
    url = reverse("staging-delete", args=[directory.name])
    answer = Client().get(url, **auth)
    assert answer.status_code == 405 and answer["Allow"] == "POST"
    assert "POST" in answer.json()["error"]
    directory.refresh_from_db()
    assert directory.deleted_at is None and directory.absolute_path.is_dir()
    assert Client().post(url, **auth).status_code == 200  # POST still deletes
