from django.urls import path

from accounts import apppassword_views, oidc_views

urlpatterns = [
    path("oidc/login/", oidc_views.oidc_login, name="oidc-login"),
    path("oidc/callback/", oidc_views.oidc_callback, name="oidc-callback"),
    path("logout/", oidc_views.logout, name="logout"),
    path(
        "account/app-passwords/", apppassword_views.app_password_create, name="app-password-create"
    ),
    path(
        "account/app-passwords/new",
        apppassword_views.app_password_created,
        name="app-password-created",
    ),
    path(
        "account/app-passwords/<int:pk>/revoke",
        apppassword_views.app_password_revoke,
        name="app-password-revoke",
    ),
]
