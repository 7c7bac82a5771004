"""The account a dashboard session acts in, and the switcher in the nav.

An IAM user acts in their own account, always. A Django superuser is an administrator of
every account: they act in the account chosen in the nav (kept in the session), the install's
(``STRATUS_ACCOUNT_ID``) until they choose one. A Django user with no IAM identity acts in the
install's account, where ``iam.models.user_principal`` places them.

``dashboard.middleware.AccountMiddleware`` wraps each dashboard request in that account
(``iam.tenancy.acting_in``); the live websockets and ``/api/v1/`` ask ``session_account_id``
the same question.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from iam.models import Account, user_principal
from iam.tenancy import current_account

SESSION_KEY = "stratus_account_id"


def session_account_id(user, session) -> str:
    """The account a signed-in user's session acts in."""
    if user.is_superuser:
        return (session.get(SESSION_KEY) if session is not None else None) or settings.STRATUS_ACCOUNT_ID
    return user_principal(user)[1]


def account_nav(request: HttpRequest) -> dict:
    """Template context for the nav: the account acted in and, for a superuser, every account."""
    user = getattr(request, "user", None)
    account_id = current_account()
    if user is None or not user.is_authenticated or not account_id:
        return {}
    context: dict = {
        "acting_account": Account.objects.filter(id=account_id).first() or Account(id=account_id, name="")
    }
    if user.is_superuser:
        context["switchable_accounts"] = list(Account.objects.order_by("id"))
    return context


@require_POST
def account_switch(request: HttpRequest) -> HttpResponse:
    """Act in another account from now on (superusers only), and go back where the form was."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not request.user.is_superuser:
        raise PermissionDenied("An IAM user acts in its own account; only an administrator may switch.")
    account = Account.objects.filter(id=request.POST.get("account", "")).first()
    if account is None:
        return HttpResponseBadRequest("No such account.")
    request.session[SESSION_KEY] = account.id
    messages.success(request, f"Now acting in account {account}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "home"
    return redirect(back)
