from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from awsapi.routes import cbor_operation, home_or_aws
from dashboard import views
from functions_app.api.views_function_urls import function_url_serve
from iam.web.accounts import account_switch
from metrics_app.prometheus import prometheus_metrics

urlpatterns = [
    # The Lambda API first: every path of it starts with its API version (2015-03-31/...), so it
    # shadows nothing, and the busiest requests stop resolving at once.
    path("", include("functions_app.api.urls")),
    path("", home_or_aws(views.home), name="home"),
    path("service/<str:prefix>/operation/<str:operation>", cbor_operation, name="aws-cbor"),
    re_path(r"^lambda-url/(?P<url_id>[a-z0-9]+)(?:/(?P<path>.*))?$", function_url_serve, name="function-url"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/switch", account_switch, name="account-switch"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("functions_app.api.v1_urls")),
    path("iam/", include("iam.web.urls")),
    path("", include("functions_app.web.urls")),
]
