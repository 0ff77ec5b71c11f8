from django.apps import AppConfig


class TrialConfig(AppConfig):
    name = "hepatrial.web.trial"
    label = "trial"
    verbose_name = "Trial"
    default_auto_field = "django.db.models.BigAutoField"
