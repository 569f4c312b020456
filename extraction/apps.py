from __future__ import annotations

from django.apps import AppConfig


class ExtractionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "extraction"
    verbose_name = "DSS extraction"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from extraction.services.worker import sweeper_start

        post_spawn.connect(sweeper_start, dispatch_uid="extraction.start_sweeper")
        post_spawn.connect(_urls_load, dispatch_uid="extraction.urls_load")


def _urls_load(**kwargs: object) -> None:
    """django-q2 ``post_spawn`` receiver: load the URL configuration (every view module) when
    a worker starts, not inside the completion mail of the first request it ends (~0.2 s)."""
    from django.urls import reverse

    reverse("request-list")
