from django.contrib import admin
from django.urls import include, path

from accounts.views import LoginView
from dssportal import views

admin.site.site_header = "dssportal operations"
admin.site.site_title = "dssportal admin"
admin.site.index_title = "Digitized Sky Survey archive"

handler400 = "dssportal.errors.bad_request"
handler403 = "dssportal.errors.permission_denied"
handler500 = "dssportal.errors.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers and feed readers ask for /favicon.ico whatever the page says.
    path("favicon.ico", views.favicon, name="favicon"),
    path("login/", LoginView.as_view(), name="login"),
    path("admin/", admin.site.urls),
    path("", include("accounts.oidc_urls")),
    path("", include("accounts.urls")),
    path("", include("extraction.web.urls")),
    path("", include("extraction.web.vo.urls")),
]
