"""Who may see and change what on the IAM pages: the API's evaluator, asked as the API asks it.

Each page stands for one IAM API operation (``ListUsers``, ``AttachUserPolicy``, …) with
that operation's parameters. The resource is the one the IAM API authorizes the call on
(``iam.api.front.iam_resource``), and the decision is ``iam.authorization.authorize`` for
the signed-in user, so a policy means the same on the pages as through boto3. Django
superusers may do everything. A refusal is a 403, on GET and POST alike.

The audit log records the pages as it records the API: a refused call, and every change
made (with the status the API would have answered), as the dashboard user with no access
key, from the dashboard session.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from iam import services
from iam.api.front import iam_resource
from iam.audit import audit_record, audit_worthy
from iam.authorization import authorize
from iam.callers import SignedCaller
from iam.errors import IamError, NoSuchEntity
from iam.models import Account, user_principal
from iam.tenancy import current_account

T = TypeVar("T")

# The IAM section is shown to whoever may list any of what it holds.
SECTION_OPERATIONS = ("ListUsers", "ListGroups", "ListRoles", "ListPolicies")


def dashboard_caller(user) -> SignedCaller:
    """The signed-in dashboard user as the API would see them: their principal, no key. A
    superuser, administrator of every account, calls in the account the request acts in (the
    one chosen in the nav, ``iam.web.accounts``), so that names are found and changes audited
    there."""
    principal_arn, account_id = user_principal(user)
    if getattr(user, "is_superuser", False):
        account_id = current_account() or account_id
    return SignedCaller(
        access_key_id="",
        region=settings.STRATUS_REGION,
        service="iam",
        key=None,  # signed in with a session, not a key
        user=user,
        principal_arn=principal_arn,
        account_id=account_id,
    )


@dataclass(frozen=True)
class Console:
    """One request's view of IAM: who asks, and the account the pages act in."""

    request: HttpRequest
    caller: SignedCaller
    account: Account

    def may(self, operation: str, **params: str) -> bool:
        """Whether the user may call the IAM ``operation`` with ``params`` (nothing recorded)."""
        return allowed(self.caller, operation, params)

    def abilities(self, **operations: tuple[str, dict]) -> dict[str, bool]:
        """``{label: may(operation, **params)}``, for a template to show only what it may use."""
        return {label: self.may(operation, **params) for label, (operation, params) in operations.items()}

    def require(self, operation: str, **params: str) -> None:
        """PermissionDenied, and a refusal in the audit log, unless the user may call the IAM
        ``operation`` with ``params``."""
        self.require_action(f"iam:{operation}", iam_resource(self.caller, operation, params))

    def require_action(self, action: str, resource: str) -> None:
        """The same for any action (another service's, such as the audit log's)."""
        if action_allowed(self.caller, action, resource):
            return
        self._record(action, resource, allowed=False, status=403)
        raise PermissionDenied(
            f"User: {self.caller.principal_arn} is not authorized to perform: {action} on resource: {resource}"
        )

    def change(self, operation: str, params: dict, perform: Callable[[], T]) -> T:
        """Run ``perform`` (one service call) if the user may call ``operation``, and record
        it as the API would: allowed, with 200 or the IAM error's status."""
        self.require(operation, **params)
        action, resource = f"iam:{operation}", iam_resource(self.caller, operation, params)
        try:
            result = perform()
        except (IamError, Http404) as error:
            if audit_worthy(action):
                status = error.status if isinstance(error, IamError) else 404
                self._record(action, resource, allowed=True, status=status)
            raise
        if audit_worthy(action):
            self._record(action, resource, allowed=True, status=200)
        return result

    def attempt(self, operation: str, params: dict, perform: Callable[[], object], *, done: str) -> bool:
        """``change``, telling the user how it went in a flash message (a refusal as IAM words
        it); whether it was done. A missing entity is a 404 and a refusal a 403, as ever."""
        try:
            self.change(operation, params, perform)
        except IamError as error:
            messages.error(self.request, f"{error.code}: {error.message}")
            return False
        messages.success(self.request, done)
        return True

    def _record(self, action: str, resource: str, *, allowed: bool, status: int) -> None:
        self.request.aws_request_id = str(uuid.uuid4())  # type: ignore[attr-defined]
        audit_record(
            self.caller,
            action=action,
            resource=resource,
            allowed=allowed,
            status=status,
            request=self.request,
        )


def action_allowed(caller: SignedCaller, action: str, resource: str) -> bool:
    """AWS's decision for ``caller`` doing ``action`` on ``resource`` of its own account."""
    decision = authorize(caller, action=action, resource=resource, resource_account=caller.account_id)
    return decision is None or decision.allowed


def allowed(caller: SignedCaller, operation: str, params: dict) -> bool:
    """Whether ``caller`` may call the IAM ``operation`` with ``params``, as the API decides."""
    return action_allowed(caller, f"iam:{operation}", iam_resource(caller, operation, params))


def section_visible(caller: SignedCaller) -> bool:
    """Whether the IAM section (its nav link, its overview) has anything to show ``caller``."""
    return any(allowed(caller, operation, {}) for operation in SECTION_OPERATIONS)


def account_of(user) -> Account:
    """The account the pages act in: an IAM user's own; for a superuser, the one the request
    acts in (chosen in the nav), the install's by default."""
    iam_user = getattr(user, "iam_user", None)
    if iam_user is not None and not user.is_superuser:
        return iam_user.account
    account_id = current_account()
    chosen = Account.objects.filter(id=account_id).first() if account_id else None
    return chosen or services.account_default()


def console_page(view: Callable) -> Callable:
    """A view of the IAM section: signed-in users only; the view gets the ``Console`` after
    the request and decides itself (with ``console.require``) what it needs."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        console = Console(
            request=request, caller=dashboard_caller(request.user), account=account_of(request.user)
        )
        return view(request, console, *args, **kwargs)

    return wrapped


def found(lookup: Callable[..., T], **names: str) -> T:
    """``lookup(**names)`` (a selector), or 404 with IAM's message."""
    try:
        return lookup(**names)
    except NoSuchEntity as error:
        raise Http404(error.message) from None
