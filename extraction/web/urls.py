from django.urls import path, re_path

from extraction.web import api, downloads, plates, views

urlpatterns = [
    path("requests/", views.request_list, name="request-list"),
    path("requests/check", views.request_check, name="request-check"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/status.json", views.request_status, name="request-status"),
    path("requests/<int:pk>/preview/<str:stem>.png", views.field_preview, name="field-preview"),
    path("api/requests", api.api_requests, name="api-requests"),
    path("api/requests/<int:pk>", api.api_request_detail, name="api-request-detail"),
    path("api/resolve", api.api_resolve, name="api-resolve"),
    path("api/plates", api.api_plates, name="api-plates"),
    path("plates/", plates.plate_finder, name="plate-finder"),
    path("plates/covering.json", plates.plate_covering, name="plate-covering"),
    path("plates/<str:survey>/<str:plate_id>/", plates.plate_detail, name="plate-detail"),
    path("api/cutout", api.api_cutout, name="api-cutout"),
    re_path(r"^api(?:/(?P<path>.*))?$", api.api_not_found, name="api-not-found"),
    path("staging/<str:name>.zip", downloads.staging_zip, name="staging-zip"),
    path("staging/<str:name>/", downloads.staging_listing, name="staging-listing"),
    path("staging/<str:name>/delete", downloads.staging_delete, name="staging-delete"),
    path("staging/<str:name>/<str:filename>", downloads.staging_file, name="staging-file"),
]
