from __future__ import annotations

from django.apps import AppConfig


class DssportalConfig(AppConfig):
    name = "dssportal"
    verbose_name = "dssportal"

    def ready(self) -> None:
        from dssportal.infra import staticstorage  # noqa: F401  (registers the static files check)
