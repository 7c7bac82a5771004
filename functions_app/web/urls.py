from django.urls import path

from functions_app.web import actions, keys, pages, testing, triggers

urlpatterns = [
    path("functions/", pages.function_list, name="function-list"),
    path("functions/new", pages.function_new, name="function-new"),
    path("functions/<str:name>/", pages.function_detail, name="function-detail"),
    path("functions/<str:name>/action", actions.function_action, name="function-action"),
    path("functions/<str:name>/triggers", triggers.function_trigger_action, name="function-trigger-action"),
    path("functions/<str:name>/code.zip", pages.function_download, name="function-download"),
    path("functions/<str:name>/test", testing.test_invoke, name="function-test"),
    path("functions/<str:name>/test-events", testing.test_event_save, name="test-event-save"),
    path("functions/<str:name>/test-events/delete", testing.test_event_delete, name="test-event-delete"),
    path("functions/<str:name>/invocations/<str:request_id>", pages.invocation_page, name="invocation"),
    path("triggers/", triggers.triggers_page, name="triggers"),
    path("triggers/action", triggers.trigger_action, name="trigger-action"),
    path("keys/", keys.keys_page, name="keys"),
    path("keys/new", keys.key_create, name="key-create"),
    path("keys/<str:key_id>/revoke", keys.key_revoke, name="key-revoke"),
]
