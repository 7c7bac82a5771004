from django.apps import AppConfig


class FunctionsAppConfig(AppConfig):
    name = "functions_app"
    verbose_name = "Functions"
