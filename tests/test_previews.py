"""Quick-looks made on first view from the staged file (issue 13): the same picture extraction
used to make, cached, never for what is not a served image, and never left behind a deletion."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image

from extraction.models import StagingDirectory
from extraction.pictures.preview import preview_png
from extraction.services import previews as previews_service
from extraction.services.extraction import _target, field_cut
from extraction.services.previews import field_preview_file, preview_path
from extraction.services.requests import request_create_from_text
from extraction.services.staging import previews_dir, staging_directory_delete
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINES = "\n".join(
    [
        "plain 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U",
        "gz 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 G",
        "bz 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 B",
        "xz 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 X",
        "edge 14 29 56 -62 41 05 3. 3. J2000 DSS1 0025 G",
        "list 14 29 56 -62 41 05 1. 1. J2000 DSS1 n",
    ]
)


@pytest.fixture
def extracted(make_user, client, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.PREVIEWS_DIR = tmp_path / "previews"
    register_real_dss_plate()
    user = make_user()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_create_from_text(user=user, text=LINES, source="web").request
    fields = {f.identifier: f for f in request.fields.all()}
    assert {f.status for f in fields.values()} == {"done"}
    assert fields["edge"].clipped
    return request, fields


def preview_url(field) -> str:
    return reverse("field-preview", args=[field.request_id, field.stem])


@pytest.mark.parametrize("name", ["plain", "gz", "bz", "xz", "edge"])
def test_the_first_view_makes_the_preview_extraction_used_to_make_and_caches_it(
    client, extracted, name
):
    request, fields = extracted
    field = fields[name]
    assert not previews_dir(request.pk).exists(), "extraction makes no preview"
    response = client.get(preview_url(field))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    served = b"".join(response.streaming_content)
    # What extraction made before previews were lazy: the cut's pixels with off-plate ones black.
    cut = field_cut(target=_target(field), identifier=field.identifier)
    assert served == preview_png(cut.pixels.data, cut.pixels.valid)
    if name == "edge":
        assert not cut.pixels.valid.all()
        assert min(Image.open(io.BytesIO(served)).getextrema()) == 0
    assert preview_path(field).read_bytes() == served
    preview_path(field).write_bytes(b"cached")  # a second view serves the cache as it is
    assert b"".join(client.get(preview_url(field)).streaming_content) == b"cached"


def test_a_plate_list_has_no_preview_and_none_is_written(client, extracted):
    request, fields = extracted
    assert client.get(preview_url(fields["list"])).status_code == 404
    assert not previews_dir(request.pk).exists()


def test_concurrent_first_views_both_get_the_preview_and_leave_no_partial_file(
    extracted, monkeypatch
):
    request, fields = extracted
    field = fields["gz"]
    real = previews_service.fits_preview_png
    nested: list[object] = []

    def second_view_meanwhile(fits_file: bytes) -> bytes:
        png = real(fits_file)
        if not nested:  # another view of the same preview runs to its end in between
            nested.append("running")
            nested[0] = field_preview_file(field=field)
        return png

    monkeypatch.setattr(previews_service, "fits_preview_png", second_view_meanwhile)
    assert field_preview_file(field=field) == preview_path(field)
    assert nested == [preview_path(field)]
    assert preview_path(field).read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in previews_dir(request.pk).iterdir()) == ["gz.png"]


def test_a_deletion_during_the_first_view_leaves_no_preview_behind(extracted, monkeypatch):
    request, fields = extracted
    real = previews_service.fits_preview_png

    def user_deletes_meanwhile(fits_file: bytes) -> bytes:
        png = real(fits_file)
        directory = StagingDirectory.objects.get(request=request)
        staging_directory_delete(directory=directory, reason="deleted by mail")
        return png

    monkeypatch.setattr(previews_service, "fits_preview_png", user_deletes_meanwhile)
    assert field_preview_file(field=fields["gz"]) is None
    assert not previews_dir(request.pk).exists()


def test_a_deleted_file_has_no_preview_even_when_cached(client, extracted):
    request, fields = extracted
    field = fields["plain"]
    assert client.get(preview_url(field)).status_code == 200
    directory = StagingDirectory.objects.get(request=request)
    staging_directory_delete(directory=directory, reason="expired")
    assert client.get(preview_url(field)).status_code == 404
    assert not previews_dir(request.pk).exists()
