from django.urls import path

from accounts import token_views, views

urlpatterns = [
    path("register/", views.register, name="register"),
    path("confirm/<str:token>/", views.confirm_address, name="confirm-address"),
    path("account/", views.account, name="account"),
    path("account/tokens/", token_views.token_create, name="api-token-create"),
    path("account/tokens/<int:pk>/revoke", token_views.token_revoke, name="api-token-revoke"),
]
