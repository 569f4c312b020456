"""Staging full: a real, small tmpfs as the staging area fills up in the middle of a request.

The fields that fit are complete and readable, the rest fail with a reason the user can read,
no partial file is left behind, and the completion mail goes out once and says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from django.core import mail

from extraction.models import Field
from extraction.services.requests import request_create_from_text
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "f{n:02d} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


@pytest.fixture
def small_staging(tmp_path: Path, settings) -> Iterator[Path]:
    """64 KiB of real filesystem: room for a handful of 35x35-pixel FITS files."""
    staging = tmp_path / "staging"
    staging.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(staging)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"a tmpfs is needed to fill a real filesystem (run as root): {mounted.stderr}")
    settings.STAGING_DIR = staging
    try:
        yield staging
    finally:
        subprocess.run(["umount", "-l", str(staging)], check=False)


def test_fields_that_do_not_fit_on_disk_fail_with_a_clear_reason_and_nothing_is_corrupt(
    small_staging: Path, make_user, django_capture_on_commit_callbacks
) -> None:
    register_real_dss_plate()
    user = make_user(quota_mb=100)
    text = "\n".join(LINE.format(n=n) for n in range(20))
    with django_capture_on_commit_callbacks(execute=True):
        request = request_create_from_text(user=user, text=text, source="mail").request

    fields = list(Field.objects.filter(request=request).order_by("line_no"))
    done = [f for f in fields if f.status == "done"]
    failed = [f for f in fields if f.status == "failed"]
    assert done and failed and len(done) + len(failed) == 20
    for field in failed:
        assert "staging disk is full" in field.message
    directory = request.staging.absolute_path
    assert sorted(p.name for p in directory.iterdir()) == sorted(f.output_name for f in done)
    for field in done:
        with fits.open(directory / field.output_name) as hdul:
            assert hdul[0].data.shape == (35, 35)
    assert [p for p in (small_staging / ".partial").glob("**/*") if p.is_file()] == []

    completion = [m for m in mail.outbox if "ready" in m.subject]
    assert len(completion) == 1
    assert "staging disk is full" in completion[0].body
