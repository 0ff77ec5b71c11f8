from django.urls import include, path

urlpatterns = [
    path("", include("hepatrial.web.trial.urls")),
    path("api/", include("hepatrial.web.api")),
]
