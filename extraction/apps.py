from __future__ import annotations

from django.apps import AppConfig


class ExtractionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "extraction"
    verbose_name = "DSS extraction"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from extraction.tasks import start_sweeper

        post_spawn.connect(start_sweeper, dispatch_uid="extraction.start_sweeper")
