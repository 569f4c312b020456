from django.urls import path, re_path

from extraction.web.vo import coverage, legacy, links, sia

urlpatterns = [
    path("vo/sia2/capabilities", sia.capabilities, name="vo-sia2-capabilities"),
    path("vo/sia2/availability", sia.availability, name="vo-sia2-availability"),
    path("vo/sia2/query", sia.query, name="vo-sia2-query"),
    path("vo/datalink/links", links.datalink, name="vo-datalink"),
    path("vo/soda/sync", links.soda_sync, name="vo-soda-sync"),
    path("vo/plate/<str:survey>/<str:plate_id>.fits", links.plate_file, name="vo-plate-file"),
    re_path(r"^vo/moc/(?P<survey>[A-Za-z0-9]+)\.(?P<fmt>fits|json)$", coverage.moc, name="vo-moc"),
    path("vo/registry.xml", coverage.registry_record, name="vo-registry"),
    path("cgi-bin/dss_search", legacy.stsci_dss_search, name="legacy-stsci"),
    path("dss/dss", legacy.eso_dss, name="legacy-eso"),
    path("dss/dss/image", legacy.eso_dss, name="legacy-eso-image"),  # as scripts call it
]
