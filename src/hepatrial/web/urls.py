from django.urls import include, path

urlpatterns = [
    path("", include("hepatrial.web.trial.urls")),
]
