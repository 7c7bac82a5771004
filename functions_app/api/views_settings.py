"""Lambda API: concurrency, async settings, permissions, tags and account settings."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from functions_app.api.authorization import ALL, FUNCTION, FUNCTION_UNQUALIFIED, TAGGED, lambda_action
from functions_app.api.http import json_body, paginate
from functions_app.api.serializers import event_invoke_config, provisioned_config
from functions_app.arns import function_ref_parse
from functions_app.errors import InvalidParameterValue
from functions_app.models import Function
from functions_app.selectors import function_get, functions_of_account, total_code_size
from functions_app.services import concurrency, event_invoke, policy
from functions_app.services import functions as function_services
from functions_app.validation import TOTAL_CODE_SIZE, UNZIPPED_MAX_BYTES, ZIP_MAX_BYTES


def _function(request, function_name: str) -> tuple[Function, str | None]:
    ref = function_ref_parse(function_name, qualifier=request.GET.get("Qualifier") or None)
    return function_get(ref), ref.qualifier


@lambda_action("lambda:PutFunctionConcurrency", FUNCTION_UNQUALIFIED)
def reserved_concurrency_put(request, function_name: str):
    function, _ = _function(request, function_name)
    value = concurrency.reserved_concurrency_put(
        function=function, value=json_body(request).get("ReservedConcurrentExecutions")
    )
    return JsonResponse({"ReservedConcurrentExecutions": value})


@lambda_action("lambda:DeleteFunctionConcurrency", FUNCTION_UNQUALIFIED)
def reserved_concurrency_delete(request, function_name: str):
    function, _ = _function(request, function_name)
    concurrency.reserved_concurrency_delete(function=function)
    return HttpResponse(status=204)


@lambda_action("lambda:GetFunctionConcurrency", FUNCTION_UNQUALIFIED)
def reserved_concurrency_get(request, function_name: str):
    function, _ = _function(request, function_name)
    if function.reserved_concurrency is None:
        return JsonResponse({})
    return JsonResponse({"ReservedConcurrentExecutions": function.reserved_concurrency})


def _provisioned_action(request) -> str:
    if request.GET.get("List") == "ALL":
        return "lambda:ListProvisionedConcurrencyConfigs"
    return "lambda:GetProvisionedConcurrencyConfig"


@lambda_action(_provisioned_action, FUNCTION)
def provisioned_get_or_list(request, function_name: str):
    function, qualifier = _function(request, function_name)
    if request.GET.get("List") == "ALL":
        configs = list(function.provisioned_configs.select_related("function").order_by("qualifier"))
        page, next_marker = paginate(configs, request)
        body: dict = {
            "ProvisionedConcurrencyConfigs": [provisioned_config(config, with_arn=True) for config in page]
        }
        if next_marker:
            body["NextMarker"] = next_marker
        return JsonResponse(body)
    config = concurrency.provisioned_config_get(function=function, qualifier=qualifier)
    return JsonResponse(provisioned_config(config))


@lambda_action("lambda:PutProvisionedConcurrencyConfig", FUNCTION)
def provisioned_put(request, function_name: str):
    function, qualifier = _function(request, function_name)
    config = concurrency.provisioned_config_put(
        function=function,
        qualifier=qualifier,
        value=json_body(request).get("ProvisionedConcurrentExecutions"),
    )
    return JsonResponse(provisioned_config(config), status=202)


@lambda_action("lambda:DeleteProvisionedConcurrencyConfig", FUNCTION)
def provisioned_delete(request, function_name: str):
    function, qualifier = _function(request, function_name)
    concurrency.provisioned_config_delete(function=function, qualifier=qualifier)
    return HttpResponse(status=204)


@lambda_action("lambda:GetFunctionEventInvokeConfig", FUNCTION)
def event_invoke_get(request, function_name: str):
    function, qualifier = _function(request, function_name)
    return JsonResponse(
        event_invoke_config(event_invoke.event_invoke_config_get(function=function, qualifier=qualifier))
    )


@lambda_action("lambda:PutFunctionEventInvokeConfig", FUNCTION)
def event_invoke_put(request, function_name: str):
    function, qualifier = _function(request, function_name)
    config = event_invoke.event_invoke_config_put(
        function=function, qualifier=qualifier, fields=json_body(request), merge=False
    )
    return JsonResponse(event_invoke_config(config))


@lambda_action("lambda:UpdateFunctionEventInvokeConfig", FUNCTION)
def event_invoke_update(request, function_name: str):
    function, qualifier = _function(request, function_name)
    config = event_invoke.event_invoke_config_put(
        function=function, qualifier=qualifier, fields=json_body(request), merge=True
    )
    return JsonResponse(event_invoke_config(config))


@lambda_action("lambda:DeleteFunctionEventInvokeConfig", FUNCTION)
def event_invoke_delete(request, function_name: str):
    function, qualifier = _function(request, function_name)
    event_invoke.event_invoke_config_delete(function=function, qualifier=qualifier)
    return HttpResponse(status=204)


@lambda_action("lambda:ListFunctionEventInvokeConfigs", FUNCTION_UNQUALIFIED)
def event_invoke_list(request, function_name: str):
    function, _ = _function(request, function_name)
    configs = list(function.event_invoke_configs.select_related("function").order_by("qualifier"))
    page, next_marker = paginate(configs, request)
    body: dict = {"FunctionEventInvokeConfigs": [event_invoke_config(config) for config in page]}
    if next_marker:
        body["NextMarker"] = next_marker
    return JsonResponse(body)


@lambda_action("lambda:AddPermission", FUNCTION)
def permission_add(request, function_name: str):
    function, qualifier = _function(request, function_name)
    statement = policy.permission_add(function=function, qualifier=qualifier, fields=json_body(request))
    return JsonResponse({"Statement": json.dumps(statement)}, status=201)


@lambda_action("lambda:RemovePermission", FUNCTION)
def permission_remove(request, function_name: str, statement_id: str):
    function, qualifier = _function(request, function_name)
    policy.permission_remove(
        function=function, qualifier=qualifier, sid=statement_id, revision_id=request.GET.get("RevisionId")
    )
    return HttpResponse(status=204)


@lambda_action("lambda:GetPolicy", FUNCTION)
def policy_get(request, function_name: str):
    function, qualifier = _function(request, function_name)
    document, revision_id = policy.policy_get(function=function, qualifier=qualifier)
    return JsonResponse({"Policy": json.dumps(document), "RevisionId": revision_id})


def _tagged_function(resource: str) -> Function:
    ref = function_ref_parse(resource)
    if ref.qualifier:
        raise InvalidParameterValue(
            "Tags apply to the function, not to a version or alias; use the unqualified ARN."
        )
    return function_get(ref)


@lambda_action("lambda:ListTags", TAGGED)
def tags_list(request, resource: str):
    return JsonResponse({"Tags": _tagged_function(resource).tags})


@lambda_action("lambda:TagResource", TAGGED)
def tags_add(request, resource: str):
    tags = json_body(request).get("Tags")
    if not isinstance(tags, dict) or not tags:
        raise InvalidParameterValue("Tags is required: an object of key/value strings.")
    function_services.function_tags_set(function=_tagged_function(resource), tags=tags)
    return HttpResponse(status=204)


@lambda_action("lambda:UntagResource", TAGGED)
def tags_remove(request, resource: str):
    keys = request.GET.getlist("tagKeys")
    if not keys:
        raise InvalidParameterValue("tagKeys is required.")
    function_services.function_tags_remove(function=_tagged_function(resource), keys=keys)
    return HttpResponse(status=204)


@lambda_action("lambda:GetAccountSettings", ALL)
def account_settings(request):
    return JsonResponse(
        {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": UNZIPPED_MAX_BYTES,
                "CodeSizeZipped": ZIP_MAX_BYTES,
                "ConcurrentExecutions": settings.STRATUS_ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": concurrency.unreserved_concurrency(),
            },
            "AccountUsage": {
                "TotalCodeSize": total_code_size(),
                "FunctionCount": functions_of_account().count(),
            },
        }
    )
