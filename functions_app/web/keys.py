"""The access-keys page: create (the secret shown once), list, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from functions_app.models import AccessKey
from functions_app.services.access_keys import access_key_create, access_key_revoke


@login_required
def keys_page(request):
    keys = AccessKey.objects.filter(user=request.user)
    new_secret = request.session.pop("new_access_key", None)
    return render(request, "functions/keys.html", {"keys": keys, "new_secret": new_secret})


@require_POST
@login_required
def key_create(request):
    # A key can do through the APIs whatever the account can, so only users who may change
    # functions can mint one (staff can always issue keys in the admin).
    if not request.user.has_perm("functions_app.change_function"):
        raise PermissionDenied("You need the functions_app.change_function permission to create access keys.")
    key, secret = access_key_create(user=request.user, description=request.POST.get("description", "")[:200])
    # Shown once, on the next page, then gone from the session.
    request.session["new_access_key"] = {"id": key.access_key_id, "secret": secret}
    return redirect("keys")


@require_POST
@login_required
def key_revoke(request, key_id: str):
    key = AccessKey.objects.filter(user=request.user, access_key_id=key_id).first()
    if key is None:
        raise Http404("No such key of yours.")
    access_key_revoke(key=key)
    messages.success(request, f"Revoked {key_id}.")
    return redirect("keys")
