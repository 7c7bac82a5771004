"""Routes of the Lambda API, laid out exactly as AWS's (the dated prefixes included)."""

from django.urls import path, re_path

from functions_app.api import views_function_urls as furl
from functions_app.api import views_functions as fn
from functions_app.api import views_invoke
from functions_app.api import views_mappings as esm
from functions_app.api import views_settings as cfg
from functions_app.api.http import methods
from functions_app.api.middleware import unknown_operation

F = r"(?P<function_name>[^/]+)"

urlpatterns = [
    re_path(r"^2015-03-31/functions/?$", methods(GET=fn.function_list, POST=fn.function_create)),
    re_path(rf"^2015-03-31/functions/{F}/?$", methods(GET=fn.function_get_view, DELETE=fn.function_delete)),
    re_path(
        rf"^2015-03-31/functions/{F}/configuration/?$",
        methods(GET=fn.configuration_get, PUT=fn.configuration_update),
    ),
    re_path(rf"^2015-03-31/functions/{F}/code/?$", methods(PUT=fn.code_update)),
    re_path(rf"^2015-03-31/functions/{F}/invocations/?$", methods(POST=views_invoke.invoke)),
    re_path(rf"^2014-11-13/functions/{F}/invoke-async/?$", methods(POST=views_invoke.invoke_async)),
    re_path(
        rf"^2015-03-31/functions/{F}/versions/?$", methods(GET=fn.versions_list, POST=fn.version_publish)
    ),
    re_path(rf"^2015-03-31/functions/{F}/aliases/?$", methods(GET=fn.aliases_list, POST=fn.alias_create)),
    re_path(
        rf"^2015-03-31/functions/{F}/aliases/(?P<alias_name>[^/]+)/?$",
        methods(GET=fn.alias_get_view, PUT=fn.alias_update, DELETE=fn.alias_delete),
    ),
    re_path(rf"^2015-03-31/functions/{F}/policy/?$", methods(GET=cfg.policy_get, POST=cfg.permission_add)),
    re_path(
        rf"^2015-03-31/functions/{F}/policy/(?P<statement_id>[^/]+)/?$", methods(DELETE=cfg.permission_remove)
    ),
    re_path(
        rf"^2017-10-31/functions/{F}/concurrency/?$",
        methods(PUT=cfg.reserved_concurrency_put, DELETE=cfg.reserved_concurrency_delete),
    ),
    re_path(rf"^2019-09-30/functions/{F}/concurrency/?$", methods(GET=cfg.reserved_concurrency_get)),
    re_path(
        rf"^2019-09-30/functions/{F}/provisioned-concurrency/?$",
        methods(GET=cfg.provisioned_get_or_list, PUT=cfg.provisioned_put, DELETE=cfg.provisioned_delete),
    ),
    re_path(
        rf"^2019-09-25/functions/{F}/event-invoke-config/?$",
        methods(
            GET=cfg.event_invoke_get,
            PUT=cfg.event_invoke_put,
            POST=cfg.event_invoke_update,
            DELETE=cfg.event_invoke_delete,
        ),
    ),
    re_path(rf"^2019-09-25/functions/{F}/event-invoke-config/list/?$", methods(GET=cfg.event_invoke_list)),
    re_path(
        rf"^2021-10-31/functions/{F}/url/?$",
        methods(
            POST=furl.url_config_create,
            GET=furl.url_config_get,
            PUT=furl.url_config_update,
            DELETE=furl.url_config_delete,
        ),
    ),
    re_path(rf"^2021-10-31/functions/{F}/urls/?$", methods(GET=furl.url_configs_list)),
    re_path(r"^2015-03-31/event-source-mappings/?$", methods(GET=esm.mappings_list, POST=esm.mapping_create)),
    re_path(
        r"^2015-03-31/event-source-mappings/(?P<mapping_id>[^/]+)/?$",
        methods(GET=esm.mapping_get, PUT=esm.mapping_update, DELETE=esm.mapping_delete),
    ),
    re_path(r"^2016-08-19/account-settings/?$", methods(GET=cfg.account_settings)),
    re_path(
        r"^2017-03-31/tags/(?P<resource>[^/]+)/?$",
        methods(GET=cfg.tags_list, POST=cfg.tags_add, DELETE=cfg.tags_remove),
    ),
    re_path(r"^\d{4}-\d{2}-\d{2}/.*$", unknown_operation),
    path("_stratus/code/<str:token>", fn.code_download, name="code-download"),
]
