"""Who may see and change what in the dashboard.

Viewing functions needs the ``functions_app.view_function`` permission, changing them
``functions_app.change_function`` (superusers have both; grant them through groups in the
admin). Everyone else gets 403, and anonymous visitors the sign-in page.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from functions_app.errors import ResourceNotFound
from functions_app.models import Function
from functions_app.selectors import function_get

VIEW = "functions_app.view_function"
CHANGE = "functions_app.change_function"


def _require(permission: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(permission):
                raise PermissionDenied(f"You need the {permission} permission.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


viewer_required = _require(VIEW)
editor_required = _require(CHANGE)


def function_for(name: str) -> Function:
    try:
        return function_get(name)
    except ResourceNotFound:
        raise Http404(f"No function named {name}.") from None
