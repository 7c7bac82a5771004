from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import views
from metrics_app.prometheus import prometheus_metrics

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("functions_app.api.v1_urls")),
    path("", include("functions_app.web.urls")),
    path("", include("functions_app.api.urls")),
]
