"""Static files with WhiteNoise's hashed, compressed manifest, and a fallback when it is missing.

``collectstatic`` builds the manifest (``make install`` runs it). Without it, Django's manifest
storage raises ``ValueError`` in every ``{% static %}`` tag, so every page of a ``DEBUG=0``
portal would be a 500. Here a missing manifest means plain names instead: WhiteNoise then
serves the source files through the finders (settings.WHITENOISE_USE_FINDERS) and
``manage.py check`` says to run ``collectstatic``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register
from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestOrSourceStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        if not self.hashed_files:  # no manifest: collectstatic has not run
            return name
        return super().stored_name(name)


@register("staticfiles", deploy=True)
def static_manifest_check(**kwargs: object) -> list[CheckMessage]:
    manifest = settings.STATIC_MANIFEST
    backend = settings.STORAGES["staticfiles"]["BACKEND"]
    if not backend.endswith(ManifestOrSourceStaticFilesStorage.__name__) or manifest.exists():
        return []
    return [
        Warning(
            f"Static files are not collected ({manifest} is missing): they are served "
            "unhashed from the source folders, without long-lived caching.",
            hint="Run `manage.py collectstatic --noinput` (make install does).",
            id="dssportal.W001",
        )
    ]
