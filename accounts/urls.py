from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import token_views, views

urlpatterns = [
    path("register/", views.register, name="register"),
    path("confirm/resend/", views.resend_confirmation, name="resend-confirmation"),
    path("confirm/<str:token>/", views.confirm_address, name="confirm-address"),
    path("account/", views.account, name="account"),
    path("account/tokens/", token_views.token_create, name="api-token-create"),
    path("account/tokens/new", token_views.token_created, name="api-token-created"),
    path("account/tokens/<int:pk>/revoke", token_views.token_revoke, name="api-token-revoke"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
