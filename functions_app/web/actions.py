"""What the function page's forms do: each action calls the same service the Lambda API calls."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard.caches import changed
from functions_app.errors import InvalidParameterValue, LambdaError
from functions_app.models import LATEST, Function
from functions_app.selectors import alias_get, version_get
from functions_app.services import concurrency, event_invoke, functions, versions
from functions_app.services.artifacts import artifact_read
from functions_app.web.access import CHANGE, editor_required, function_for
from functions_app.web.blueprints import zip_replace
from functions_app.web.pages import function_detail


def _pairs(text: str, what: str) -> dict[str, str]:
    pairs = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            raise InvalidParameterValue(f"{what}, line {number}: write KEY=value.")
        pairs[key.strip()] = value.strip()
    return pairs


def _int_or_none(value: str) -> int | str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _deploy(function: Function, post, files) -> str:
    latest = version_get(function, LATEST)
    edited = {
        key[len("file:") :]: value.replace("\r\n", "\n")
        for key, value in post.items()
        if key.startswith("file:")
    }
    new_name = post.get("new_file", "").strip()
    if new_name:
        edited.setdefault(new_name, "")
    data = zip_replace(artifact_read(latest.code), edited)
    functions.function_update_code(function=function, fields={"ZipFile": base64.b64encode(data).decode()})
    return "Deployed to $LATEST."


def _upload(function: Function, post, files) -> str:
    upload = files.get("zip")
    if upload is None:
        raise InvalidParameterValue("Choose a .zip file to upload.")
    functions.function_update_code(
        function=function, fields={"ZipFile": base64.b64encode(upload.read()).decode()}
    )
    return "Uploaded the package to $LATEST."


def _publish(function: Function, post, files) -> str:
    version = versions.version_publish(function=function, description=post.get("description") or None)
    return f"Published version {version.version}."


def _settings(function: Function, post, files) -> str:
    fields = {
        "Description": post.get("description", ""),
        "Handler": post.get("handler", ""),
        "Runtime": post.get("runtime", ""),
        "MemorySize": _int_or_none(post.get("memory")),
        "Timeout": _int_or_none(post.get("timeout")),
        "EphemeralStorage": {"Size": _int_or_none(post.get("ephemeral"))},
    }
    functions.function_update_configuration(function=function, fields=fields)
    Function.objects.filter(pk=function.pk).update(capture_payloads=post.get("capture_payloads") == "on")
    changed()  # update() sends no signal; invocations read capture_payloads from the cached function
    return "Saved the general settings."


def _environment(function: Function, post, files) -> str:
    variables = _pairs(post.get("environment", ""), "Environment variables")
    functions.function_update_configuration(
        function=function, fields={"Environment": {"Variables": variables}}
    )
    return "Saved the environment variables."


def _reserved(function: Function, post, files) -> str:
    value = _int_or_none(post.get("reserved"))
    if value is None:
        concurrency.reserved_concurrency_delete(function=function)
        return "Removed the reserved concurrency."
    concurrency.reserved_concurrency_put(function=function, value=value)
    return f"Reserved {value} concurrent executions."


def _provisioned(function: Function, post, files) -> str:
    qualifier = post.get("qualifier", "").strip()
    value = _int_or_none(post.get("provisioned"))
    if value is None or value == 0:
        concurrency.provisioned_config_delete(function=function, qualifier=qualifier)
        return f"Removed provisioned concurrency from {qualifier}."
    concurrency.provisioned_config_put(function=function, qualifier=qualifier, value=value)
    return f"Provisioning {value} environments for {qualifier}."


def _async(function: Function, post, files) -> str:
    fields = {
        "MaximumRetryAttempts": _int_or_none(post.get("retries")),
        "MaximumEventAgeInSeconds": _int_or_none(post.get("max_age")),
        "DestinationConfig": {
            "OnSuccess": {"Destination": post.get("on_success", "").strip()},
            "OnFailure": {"Destination": post.get("on_failure", "").strip()},
        },
    }
    event_invoke.event_invoke_config_put(
        function=function, qualifier=post.get("qualifier", "").strip() or None, fields=fields, merge=False
    )
    return "Saved the asynchronous invocation settings."


def _alias(function: Function, post, files) -> str:
    name = post.get("alias", "").strip()
    routing = {}
    if post.get("extra_version", "").strip():
        try:
            weight = float(post.get("extra_weight") or 0) / 100.0
        except ValueError:
            raise InvalidParameterValue("The weight is a percentage, e.g. 10.") from None
        routing = {"AdditionalVersionWeights": {post["extra_version"].strip(): weight}}
    fields = {
        "Name": name,
        "FunctionVersion": post.get("version", "").strip(),
        "RoutingConfig": routing,
        "Description": post.get("description", ""),
    }
    if function.aliases.filter(name=name).exists():
        versions.alias_update(alias=alias_get(function, name), fields=fields)
        return f"Updated alias {name}."
    versions.alias_create(function=function, fields=fields)
    return f"Created alias {name}."


def _alias_delete(function: Function, post, files) -> str:
    versions.alias_delete(alias=alias_get(function, post.get("alias", "")))
    return f"Deleted alias {post.get('alias')}."


def _tags(function: Function, post, files) -> str:
    tags = _pairs(post.get("tags", ""), "Tags")
    functions.function_tags_remove(function=function, keys=[key for key in function.tags if key not in tags])
    if tags:
        functions.function_tags_set(function=Function.objects.get(pk=function.pk), tags=tags)
    return "Saved the tags."


ACTIONS = {
    "deploy": ("code", _deploy),
    "upload": ("code", _upload),
    "publish": ("code", _publish),
    "settings": ("configuration", _settings),
    "environment": ("configuration", _environment),
    "reserved": ("configuration", _reserved),
    "provisioned": ("configuration", _provisioned),
    "async": ("configuration", _async),
    "alias": ("configuration", _alias),
    "alias-delete": ("configuration", _alias_delete),
    "tags": ("configuration", _tags),
}


@require_POST
@editor_required
def function_action(request, name: str):
    function = function_for(request, name, CHANGE)
    action = request.POST.get("action", "")
    if action == "delete":
        if request.POST.get("confirm") != function.name:
            messages.error(request, "Type the function's name to confirm deleting it.")
            return redirect(f"{reverse('function-detail', args=[name])}?tab=configuration")
        functions.function_delete(function=function, qualifier=None)
        messages.success(request, f"Deleted {name}.")
        return redirect("function-list")
    if action not in ACTIONS:
        # Plain text: the action is what the client sent, so never echo it back as HTML.
        return HttpResponseBadRequest(f"Unknown action {action!r}.", content_type="text/plain")
    tab, perform = ACTIONS[action]
    try:
        messages.success(request, perform(function, request.POST, request.FILES))
    except LambdaError as error:
        # Re-render with the service's own message next to the form that caused it.
        request.GET = request.GET.copy()
        request.GET["tab"] = tab
        return function_detail.__wrapped__(request, name, form_errors={action: error.message}, status=400)
    return redirect(f"{reverse('function-detail', args=[name])}?tab={tab}")
