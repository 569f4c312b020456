"""The admin's whole-sky map of DSS2 (every catalogued plate, ~4,200 outlines): time to the
full answer through Django's test client, p50/p95 over repeated requests, and its size.

Goal (issue "what trying it found"): p95 <= 300 ms and a small page (it was 1.2 s and
1.8 MB of SVG). The ratio printed is the page against its floor measured in the same run:
the catalogue query and the outline geometry alone, without drawing.
"""

from __future__ import annotations

import time

from _common import django_setup, percentile


def main() -> None:
    django_setup()
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from extraction.models import Plate
    from extraction.pictures.skymap import outlines_radec
    from extraction.services.plates import plate_outlines
    from extraction.services.synthetic import synthetic_catalogue_register

    synthetic_catalogue_register(surveys=["DSS2"])
    n_plates = Plate.objects.filter(survey="DSS2").count()
    staff = User.objects.create_superuser("bench", "bench@example.org", "x")
    client = Client()
    client.force_login(staff)
    url = reverse("admin:plate-sky-map")

    def page() -> tuple[float, int]:
        started = time.perf_counter()
        response = client.get(url, {"survey": "DSS2"})
        assert response.status_code == 200
        return time.perf_counter() - started, len(response.content)

    def floor() -> float:
        started = time.perf_counter()
        outlines_radec(plate_outlines(Plate.objects.filter(survey="DSS2")), 3)
        return time.perf_counter() - started

    page()  # warm caches
    times, sizes = zip(*(page() for _ in range(20)), strict=True)
    floors = [floor() for _ in range(20)]
    p50, p95 = percentile(list(times), 0.5), percentile(list(times), 0.95)
    floor_p50 = percentile(floors, 0.5)
    print(
        f"admin sky map of DSS2, {n_plates} plates: {sizes[0] / 1e3:.0f} kB; "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (goal <= 300 ms); "
        f"floor (query + geometry) p50 {floor_p50 * 1000:.0f} ms; "
        f"page/floor {p50 / floor_p50:.2f}x"
    )


if __name__ == "__main__":
    main()
