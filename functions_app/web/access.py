"""Who may see and change what in the dashboard, ``/api/v1/`` and the live websockets.

Viewing a function needs the ``functions_app.view_function`` permission on it, changing it
``functions_app.change_function`` on it; IAM decides both per function (``iam.backends``),
Django's model permissions and superusers count for every function. The decorators only let
in someone who may see (or change) some function; the page then finds its function through
``function_for``, which checks that one. Pages that span the account (queues, streams and
topics, creating a function) need the permission on ``EVERY_FUNCTION``.

Everyone else gets 403, and anonymous visitors the sign-in page. A function that does not
exist is 404 to anyone allowed into the section at all; so is another account's, as pages
find and list functions in the account the request acts in (``iam.web.accounts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from functions_app.errors import ResourceNotFound
from functions_app.models import Function
from functions_app.selectors import function_get
from iam.backends import EVERY_FUNCTION, caller_permitted

VIEW = "functions_app.view_function"
CHANGE = "functions_app.change_function"


def permitted(request: HttpRequest, permission: str, obj: object = None) -> bool:
    """Whether the request's user (or, on ``/api/v1/``, its SigV4-signed caller) has
    ``permission`` on ``obj``: a Function, ``EVERY_FUNCTION``, or None for "some function"."""
    caller = getattr(request, "signed_caller", None)
    if caller is not None:
        return caller_permitted(caller, permission, obj)
    return request.user.has_perm(permission, obj)


def method_permission(request: HttpRequest) -> str:
    """What a JSON route needs for the request's method: VIEW to read, CHANGE for the rest."""
    return VIEW if request.method in ("GET", "HEAD", "OPTIONS") else CHANGE


def _require(permission: str, obj: object = None):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not permitted(request, permission, obj):
                raise PermissionDenied(f"You need the {permission} permission.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


viewer_required = _require(VIEW)
editor_required = _require(CHANGE)
account_viewer_required = _require(VIEW, EVERY_FUNCTION)
account_editor_required = _require(CHANGE, EVERY_FUNCTION)


def function_check(request: HttpRequest, function: Function, permission: str = VIEW) -> Function:
    """``function``, or PermissionDenied when the request may not ``permission`` on it."""
    if not permitted(request, permission, function):
        raise PermissionDenied(f"You need the {permission} permission on {function.name}.")
    return function


def function_for(request: HttpRequest, name: str, permission: str = VIEW) -> Function:
    """The function a page names: 404 when there is none, 403 when the request may not
    ``permission`` on it."""
    try:
        function = function_get(name)
    except ResourceNotFound:
        raise Http404(f"No function named {name}.") from None
    return function_check(request, function, permission)


def functions_visible(request: HttpRequest, functions: Iterable[Function]) -> list[Function]:
    """The ``functions`` the request may see. Prefetch ``policy_statements`` on a long list:
    a function's resource-based policy is read when the caller's own policies do not decide."""
    return [function for function in functions if permitted(request, VIEW, function)]
