from django.apps import AppConfig


class DssportalConfig(AppConfig):
    name = "dssportal"
    verbose_name = "dssportal"
