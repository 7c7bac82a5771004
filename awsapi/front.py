"""One path for every AWS API call: ``serve(request, service, protocol, operation)``.

In order: the signature (``sigv4``), the operation (the service's table), the request's shape
(botocore's model), authorization (``iam``'s evaluator, on the action and resource the service
names for the call, with the resource's own policy when it has one), the handler, the audit log
(a refusal, or an allowed change, with what was answered), and the answer or error in the
protocol's shape. A service is a table: its operations and what each one acts on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore.model import ServiceModel
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from awsapi.errors import AwsError, InternalFailure
from awsapi.protocols import Protocol
from awsapi.shapes import SerializationException, ValidationException, service_model
from awsapi.sigv4 import SignedCaller, caller_verify
from iam.audit import audit_record, audit_worthy
from iam.authorization import operation_denial
from iam.policy import Policy

logger = logging.getLogger("stratus.api")


@dataclass(frozen=True)
class Call:
    """One authenticated call of an operation, as its handler sees it."""

    request: HttpRequest
    caller: SignedCaller
    operation: str
    params: dict
    request_id: str


Handler = Callable[[Call], dict]


def on_params(operations: Mapping[str, Callable[[dict], dict]]) -> dict[str, Handler]:
    """A table of handlers that need only the call's members."""
    return {
        name: (lambda call, handler=handler: handler(call.params)) for name, handler in operations.items()
    }


def _same(error: AwsError) -> AwsError:
    return error


def _no_translation(error: Exception) -> AwsError | None:
    return None


@dataclass(frozen=True)
class Service:
    """An AWS service as the front door serves it.

    ``resource(call)`` names the ARN a call acts on (``*`` when it acts on none; None when
    the operation decides who may call it itself, as STS's do) and
    ``action(operation)`` the IAM action it is (``<signing name>:<Operation>`` unless said
    otherwise); ``denied(message)`` is the service's own refusal. ``malformed`` renames the
    checker's ``SerializationException``/``ValidationException`` to the service's words for
    them, ``translate`` turns errors of the layers below into the service's, and
    ``resource_policy(call, resource)`` is the resource's own policy, when it has one;
    ``internal()`` is what a caller sees of a bug.
    """

    model_name: str
    signing_name: str
    operations: Mapping[str, Handler]
    resource: Callable[[Call], str | None]
    denied: Callable[[str], AwsError]
    unknown: Callable[[str], AwsError]
    action: Callable[[str], str] | None = None
    malformed: Callable[[AwsError], AwsError] = _same
    translate: Callable[[Exception], AwsError | None] = _no_translation
    resource_policy: Callable[[Call, str], Policy | None] | None = None
    resource_account: Callable[[Call], str | None] | None = None
    type_prefix: str = ""
    shapes_checked: bool = True
    typed: bool = False
    internal: Callable[[], AwsError] = InternalFailure

    @property
    def model(self) -> ServiceModel:
        return service_model(self.model_name)

    @property
    def query_compatible(self) -> bool:
        return "awsQueryCompatible" in self.model.metadata

    def action_of(self, operation: str) -> str:
        return self.action(operation) if self.action is not None else f"{self.signing_name}:{operation}"


def refusal(
    caller: SignedCaller,
    *,
    action: str,
    resource: str,
    request: HttpRequest | None = None,
    resource_policy: Policy | None = None,
    resource_account: str | None = None,
    condition_keys: Mapping[str, str] | None = None,
) -> str | None:
    """None when ``caller`` may do ``action`` on ``resource``; else AWS's refusal message,
    recorded in the audit log, for the service to raise in its own error shape."""
    denial = operation_denial(
        caller,
        action=action,
        resource=resource,
        resource_policy=resource_policy,
        resource_account=resource_account,
        condition_keys=condition_keys,
        record=False,
    )
    if denial is not None:
        audit_record(caller, action=action, resource=resource, allowed=False, status=403, request=request)
    return denial


def serve(request: HttpRequest, service: Service, protocol: Protocol, operation: str) -> HttpResponse:
    """Answer one call of ``operation`` of ``service``, spoken in ``protocol``."""
    request_id = str(uuid.uuid4())
    request.aws_request_id = request_id
    try:
        caller = caller_verify(request, service=service.signing_name)
        request.access_key_id = caller.access_key_id  # for the request log
        handler = service.operations.get(operation)
        if handler is None:
            raise service.unknown(operation)
        model = service.model.operation_model(operation)
        try:
            params = protocol.decode(request, model, service)
        except (SerializationException, ValidationException) as error:
            raise service.malformed(error) from None
        call = Call(request=request, caller=caller, operation=operation, params=params, request_id=request_id)
        action, resource = service.action_of(operation), service.resource(call)
        denial = (
            None
            if resource is None
            else refusal(
                caller,
                action=action,
                resource=resource,
                request=request,
                resource_policy=service.resource_policy(call, resource) if service.resource_policy else None,
                resource_account=service.resource_account(call) if service.resource_account else None,
            )
        )
        if denial is not None:
            raise service.denied(denial)
        recorded = resource is not None and audit_worthy(action)
        try:
            result = handler(call)
        except Exception as error:
            answered = _as_aws_error(service, error)
            if recorded and answered is not None:
                audit_record(
                    caller,
                    action=action,
                    resource=resource,
                    allowed=True,
                    status=answered.status,
                    request=request,
                )
            raise
        if recorded:
            audit_record(caller, action=action, resource=resource, allowed=True, status=200, request=request)
        return protocol.success(service, model, result, request_id)
    except Exception as error:
        answered = _as_aws_error(service, error)
        if answered is None:
            logger.exception("%s %s failed", service.model.service_id, operation)
            answered = service.internal()
        return protocol.failure(service, answered, request_id)


def _as_aws_error(service: Service, error: Exception) -> AwsError | None:
    """The error a caller is answered for ``error``; None for a bug."""
    translated = service.translate(error)
    if translated is not None:
        return translated
    if isinstance(error, AwsError):
        return error
    if isinstance(error, RequestDataTooBig):
        return service.malformed(SerializationException("The request body is too large."))
    return None
