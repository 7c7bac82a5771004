"""One path for every AWS API call: ``serve(request, service, protocol, operation)``.

In order: the signature (``sigv4``), the operation (the service's table), the request's shape
(botocore's model), authorization (``iam``'s evaluator, on the action and resource the service
names for the call, with the resource's own policy when it has one), the handler, the audit log
(a refusal, or an allowed change, with what was answered), and the answer or error in the
protocol's shape. A service is a table: its operations and what each one acts on.

Lambda's REST API is routed by Django's URLs instead (its operation is in the method and the
path); it shares the signature check, the evaluator, the audit log and the error rendering
(``functions_app.api.middleware``, ``functions_app.api.authorization``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from botocore.model import OperationModel, ServiceModel
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from awsapi.errors import AwsError, InternalFailure, SignatureError
from awsapi.protocols import Protocol
from awsapi.shapes import SerializationException, ValidationException, service_model
from awsapi.sigv4 import caller_verify
from iam.audit import audit_record, audit_worthy
from iam.authorization import evaluates, operation_denial
from iam.callers import SignedCaller
from iam.policy import Policy
from iam.tenancy import acting_in

logger = logging.getLogger("stratus.api")


@dataclass(frozen=True)
class Call:
    """One authenticated call of an operation, as its handler sees it."""

    request: HttpRequest
    caller: SignedCaller
    operation: str
    params: dict


Handler = Callable[[Call], dict]


def _on_params(handler: Callable[[dict], dict], call: Call) -> dict:
    return handler(call.params)


def on_params(operations: Mapping[str, Callable[[dict], dict]]) -> dict[str, Handler]:
    """A table of handlers that need only the call's members."""
    return {name: partial(_on_params, handler) for name, handler in operations.items()}


def _same(error: AwsError) -> AwsError:
    return error


def _no_translation(error: Exception) -> AwsError | None:
    return None


@dataclass(frozen=True)
class Service:
    """An AWS service as the front door serves it.

    - ``family``: the service's error class; an error of another family that reaches the
      door (another service's, raised by a layer below) is a bug unless ``translate`` turns
      it into one of the service's own.
    - ``resource(call)``: the ARN the call acts on, ``*`` when it acts on none;
      ``action(operation)``: the IAM action it is (``<signing name>:<Operation>`` unless
      said otherwise); ``denied(message)``: the service's own refusal.
    - ``resource_policy(call, resource)``: the resource's own policy, when it has one;
      ``resource_account(call)``: the resource's account when its ARN does not say (IAM's).
    - ``authorizes_itself``: the operations decide who may call them (STS's: AssumeRole by
      the role's trust policy, GetCallerIdentity for anyone), and nothing is evaluated here.
    - ``malformed``: the service's words for the checker's ``SerializationException`` and
      ``ValidationException``; ``internal()``: what a caller sees of a bug.
    - ``type_prefix``: the namespace of a JSON error's ``__type`` (SQS's ``com.amazonaws.sqs#``);
      ``shapes_checked``: JSON bodies are checked against the model (a service that checks
      its own members in its own words says no; query bodies are read by the model, not
      checked); ``typed``: JSON members are read into the model's types (times as datetime).
    """

    model_name: str
    signing_name: str
    family: type[AwsError]
    operations: Mapping[str, Handler]
    resource: Callable[[Call], str]
    denied: Callable[[str], AwsError]
    unknown: Callable[[str], AwsError]
    internal: Callable[[], AwsError] = InternalFailure
    action: Callable[[str], str] | None = None
    resource_policy: Callable[[Call, str], Policy | None] | None = None
    resource_account: Callable[[Call], str | None] | None = None
    authorizes_itself: bool = False
    malformed: Callable[[AwsError], AwsError] = _same
    translate: Callable[[Exception], AwsError | None] = _no_translation
    type_prefix: str = ""
    shapes_checked: bool = True
    typed: bool = False

    @property
    def model(self) -> ServiceModel:
        return service_model(self.model_name)

    @property
    def query_compatible(self) -> bool:
        return "awsQueryCompatible" in self.model.metadata

    def action_of(self, operation: str) -> str:
        return self.action(operation) if self.action is not None else f"{self.signing_name}:{operation}"


def _authorize(service: Service, call: Call, action: str) -> str | None:
    """Raise the service's refusal unless the caller may make ``call``; returns the resource
    it was authorized on (None when the service authorizes its operations itself)."""
    if service.authorizes_itself:
        return None
    resource = service.resource(call)
    # A resource's policy is read only when it can matter (not for a superuser, say).
    policy = (
        service.resource_policy(call, resource)
        if service.resource_policy and evaluates(call.caller)
        else None
    )
    denial = operation_denial(
        call.caller,
        action=action,
        resource=resource,
        resource_policy=policy,
        resource_account=service.resource_account(call) if service.resource_account else None,
        request=call.request,
    )
    if denial is not None:
        raise service.denied(denial)
    return resource


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
        call = Call(request=request, caller=caller, operation=operation, params=params)
        with acting_in(caller.account_id):
            return _call(service, protocol, model, handler, call, request_id)
    except Exception as error:
        answer = _answer(service, error)
        if answer is None:
            logger.exception("%s %s failed", service.model.service_id, operation)
            answer = service.internal()
        return protocol.failure(service, answer, request_id)


def _call(
    service: Service, protocol: Protocol, model: OperationModel, handler: Handler, call: Call, request_id: str
) -> HttpResponse:
    """Authorize ``call``, make it, audit it and answer it."""
    caller, request = call.caller, call.request
    action = service.action_of(call.operation)
    resource = _authorize(service, call, action)
    audited = resource is not None and audit_worthy(action)
    try:
        response = protocol.success(service, model, handler(call), request_id)
    except Exception as error:
        if audited:
            status = (_answer(service, error) or service.internal()).status
            audit_record(
                caller, action=action, resource=resource, allowed=True, status=status, request=request
            )
        raise
    if audited:
        audit_record(caller, action=action, resource=resource, allowed=True, status=200, request=request)
    return response


def _answer(service: Service, error: Exception) -> AwsError | None:
    """The error a caller is answered for ``error``: the service's own, the signature
    check's or the shape checker's; None for a bug (another service's error included, when
    nothing translated it)."""
    translated = service.translate(error)
    if translated is not None:
        return translated
    if isinstance(error, service.family | SignatureError | SerializationException | ValidationException):
        return error
    if isinstance(error, RequestDataTooBig):
        return service.malformed(ValidationException("The request body is too large."))
    return None
