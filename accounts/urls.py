from django.urls import path

from accounts import views

urlpatterns = [
    path("register/", views.register, name="register"),
    path("confirm/<str:token>/", views.confirm_address, name="confirm-address"),
    path("account/", views.account, name="account"),
]
