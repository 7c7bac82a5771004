"""Lambda API: functions, code, versions and aliases (``/2015-03-31/functions/…``)."""

from __future__ import annotations

from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.urls import reverse

from functions_app import validation
from functions_app.api.authorization import ALL, FUNCTION, FUNCTION_UNQUALIFIED, NEW_FUNCTION, lambda_action
from functions_app.api.http import json_body, paginate
from functions_app.api.serializers import alias_configuration, function_configuration
from functions_app.arns import function_ref_parse
from functions_app.errors import AccessDenied
from functions_app.models import LATEST, CodeArtifact, FunctionVersion
from functions_app.selectors import alias_get, function_get, functions_of_account, qualifier_resolve
from functions_app.services import functions as function_services
from functions_app.services import versions as version_services
from functions_app.services.role_permissions import LAMBDA_SERVICE
from iam.authorization import operation_denial

CODE_URL_SALT = "stratus.code-location"
CODE_URL_MAX_AGE = 600  # seconds, as AWS's presigned S3 URL


def _role_pass_check(request, fields: dict) -> dict:
    """Giving a function a role is passing the role to Lambda: the caller needs iam:PassRole on
    it (with ``iam:PassedToService`` lambda.amazonaws.com), as on AWS. Returns ``fields``."""
    caller, role = getattr(request, "signed_caller", None), fields.get("Role")
    if caller is not None and isinstance(role, str):
        validation.role_check(role)  # a malformed ARN is a ValidationException first, as on AWS
        denial = operation_denial(
            caller,
            action="iam:PassRole",
            resource=role,
            condition_keys={"iam:PassedToService": LAMBDA_SERVICE},
            request=request,
        )
        if denial is not None:
            raise AccessDenied(denial)
    return fields


def _function_and_qualifier(request, function_name: str):
    ref = function_ref_parse(function_name, qualifier=request.GET.get("Qualifier") or None)
    return function_get(ref), ref.qualifier


@lambda_action("lambda:CreateFunction", NEW_FUNCTION)
def function_create(request):
    version = function_services.function_create(fields=_role_pass_check(request, json_body(request)))
    return JsonResponse(function_configuration(version), status=201)


@lambda_action("lambda:ListFunctions", ALL)
def function_list(request):
    versions = FunctionVersion.objects.select_related("function", "code").filter(
        function__in=functions_of_account()
    )
    versions = versions.order_by("function__name", "number")
    if request.GET.get("FunctionVersion") != "ALL":
        versions = versions.filter(version=LATEST)
    page, next_marker = paginate(list(versions), request)
    body: dict = {"Functions": [function_configuration(version) for version in page]}
    if next_marker:
        body["NextMarker"] = next_marker
    return JsonResponse(body)


def _code_location(request, version: FunctionVersion) -> str:
    token = signing.dumps({"sha256": version.code.sha256, "name": version.function.name}, salt=CODE_URL_SALT)
    return request.build_absolute_uri(reverse("code-download", args=[token]))


@lambda_action("lambda:GetFunction", FUNCTION)
def function_get_view(request, function_name: str):
    function, qualifier = _function_and_qualifier(request, function_name)
    resolved = qualifier_resolve(function, qualifier)
    body: dict = {
        "Configuration": function_configuration(resolved.version, qualifier=qualifier),
        "Code": {"RepositoryType": "S3", "Location": _code_location(request, resolved.version)},
        "Tags": function.tags,
    }
    if function.reserved_concurrency is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": function.reserved_concurrency}
    return JsonResponse(body)


@lambda_action("lambda:DeleteFunction", FUNCTION)
def function_delete(request, function_name: str):
    function, qualifier = _function_and_qualifier(request, function_name)
    function_services.function_delete(function=function, qualifier=qualifier)
    return HttpResponse(status=204)


@lambda_action("lambda:GetFunctionConfiguration", FUNCTION)
def configuration_get(request, function_name: str):
    function, qualifier = _function_and_qualifier(request, function_name)
    resolved = qualifier_resolve(function, qualifier)
    return JsonResponse(function_configuration(resolved.version, qualifier=qualifier))


@lambda_action("lambda:UpdateFunctionConfiguration", FUNCTION_UNQUALIFIED)
def configuration_update(request, function_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    fields = _role_pass_check(request, json_body(request))
    version = function_services.function_update_configuration(function=function, fields=fields)
    return JsonResponse(function_configuration(version))


@lambda_action("lambda:UpdateFunctionCode", FUNCTION_UNQUALIFIED)
def code_update(request, function_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    version = function_services.function_update_code(function=function, fields=json_body(request))
    return JsonResponse(function_configuration(version))


@lambda_action("lambda:ListVersionsByFunction", FUNCTION_UNQUALIFIED)
def versions_list(request, function_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    versions = list(function.versions.select_related("code", "function").order_by("number"))
    page, next_marker = paginate(versions, request)
    # Unlike GetFunction, this list qualifies $LATEST's ARN too (…:function:f:$LATEST).
    body: dict = {
        "Versions": [function_configuration(version, qualifier=version.version) for version in page]
    }
    if next_marker:
        body["NextMarker"] = next_marker
    return JsonResponse(body)


@lambda_action("lambda:PublishVersion", FUNCTION_UNQUALIFIED)
def version_publish(request, function_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    fields = json_body(request)
    version = version_services.version_publish(
        function=function,
        code_sha256=fields.get("CodeSha256"),
        description=fields.get("Description"),
        revision_id=fields.get("RevisionId"),
    )
    return JsonResponse(function_configuration(version), status=201)


@lambda_action("lambda:ListAliases", FUNCTION_UNQUALIFIED)
def aliases_list(request, function_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    aliases = function.aliases.select_related("function")
    if request.GET.get("FunctionVersion"):
        aliases = aliases.filter(function_version=request.GET["FunctionVersion"])
    page, next_marker = paginate(list(aliases), request)
    body: dict = {"Aliases": [alias_configuration(alias) for alias in page]}
    if next_marker:
        body["NextMarker"] = next_marker
    return JsonResponse(body)


@lambda_action("lambda:CreateAlias", FUNCTION_UNQUALIFIED)
def alias_create(request, function_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    alias = version_services.alias_create(function=function, fields=json_body(request))
    return JsonResponse(alias_configuration(alias), status=201)


@lambda_action("lambda:GetAlias", FUNCTION_UNQUALIFIED)
def alias_get_view(request, function_name: str, alias_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    return JsonResponse(alias_configuration(alias_get(function, alias_name)))


@lambda_action("lambda:UpdateAlias", FUNCTION_UNQUALIFIED)
def alias_update(request, function_name: str, alias_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    alias = version_services.alias_update(alias=alias_get(function, alias_name), fields=json_body(request))
    return JsonResponse(alias_configuration(alias))


@lambda_action("lambda:DeleteAlias", FUNCTION_UNQUALIFIED)
def alias_delete(request, function_name: str, alias_name: str):
    function, _ = _function_and_qualifier(request, function_name)
    version_services.alias_delete(alias=alias_get(function, alias_name))
    return HttpResponse(status=204)


def code_download(request, token: str):
    """The ``Code.Location`` URL of GetFunction: a signed link valid for ten minutes."""
    try:
        payload = signing.loads(token, salt=CODE_URL_SALT, max_age=CODE_URL_MAX_AGE)
    except signing.BadSignature:
        raise Http404("This code link is invalid or has expired; call GetFunction for a new one.") from None
    artifact = (
        CodeArtifact.objects.filter(sha256=payload["sha256"], versions__function__name=payload["name"])
        .distinct()
        .first()
    )
    if artifact is None:
        raise Http404("This code is no longer part of the function.")
    return FileResponse(
        default_storage.open(artifact.storage_name, "rb"),
        as_attachment=True,
        filename=f"{payload['name']}-{artifact.sha256[:12]}.zip",
        content_type="application/zip",
    )
