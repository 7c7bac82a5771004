"""IAM users and their access keys: list, create, delete, one user's page."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from functions_app.models import AccessKey
from iam import selectors, services
from iam.errors import IamError
from iam.models import Group, IamUser
from iam.web.access import Console, console_page, found
from iam.web.forms import NameForm, refusal_show
from iam.web.principals import KINDS, policies_context

NEW_KEY = "iam_new_access_key"  # session key: the secret of the key just made, shown once


def _user(console: Console, name: str) -> IamUser:
    return KINDS["users"].get(console, name)  # type: ignore[return-value]


@console_page
def user_list(request, console: Console):
    if request.method == "POST":
        console.require("CreateUser", UserName=request.POST.get("name", ""))
    console.require("ListUsers")
    form = NameForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        name = form.cleaned_data["name"]
        try:
            console.change(
                "CreateUser",
                {"UserName": name},
                lambda: services.user_create(account=console.account, name=name),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Created user {name}. It may do nothing until you attach a policy.")
            return redirect("iam-user", name)
    users = (
        IamUser.objects.filter(account=console.account)
        .annotate(keys=Count("user__access_keys", distinct=True))
        .prefetch_related("groups")
        .order_by("name")
    )
    return render(
        request,
        "iam/users.html",
        {"users": users, "form": form, "can_create": console.may("CreateUser")},
        status=400 if form.is_bound else 200,
    )


@console_page
def user_detail(request, console: Console, name: str):
    console.require("GetUser", UserName=name)
    iam_user = _user(console, name)
    names = {"UserName": name}
    can = console.abilities(
        delete=("DeleteUser", names),
        list_groups=("ListGroupsForUser", names),
        add_group=("AddUserToGroup", names),
        remove_group=("RemoveUserFromGroup", names),
        list_keys=("ListAccessKeys", names),
        create_key=("CreateAccessKey", names),
        update_key=("UpdateAccessKey", names),
        delete_key=("DeleteAccessKey", names),
    )
    new_key = request.session.get(NEW_KEY)
    if new_key and new_key.get("user") == iam_user.arn:
        del request.session[NEW_KEY]  # the secret is shown this once
    else:
        new_key = None
    groups = list(iam_user.groups.order_by("name"))
    context = policies_context(console, iam_user)
    context.update(
        iam_user=iam_user,
        user_can=can,
        groups=groups if can["list_groups"] else None,
        other_groups=Group.objects.filter(account=console.account)
        .exclude(pk__in=[group.pk for group in groups])
        .order_by("name"),
        keys=AccessKey.objects.filter(user_id=iam_user.user_id).order_by("created_at", "id")
        if can["list_keys"]
        else None,
        new_key=new_key,
    )
    return render(request, "iam/user.html", context)


@require_POST
@console_page
def user_delete(request, console: Console, name: str):
    if console.attempt(
        "DeleteUser",
        {"UserName": name},
        lambda: services.user_delete(iam_user=_user(console, name)),
        done=f"Deleted user {name}.",
    ):
        return redirect("iam-users")
    return redirect("iam-user", name)


@require_POST
@console_page
def key_create(request, console: Console, name: str):
    try:
        key, secret = console.change(
            "CreateAccessKey",
            {"UserName": name},
            lambda: services.access_key_issue(iam_user=_user(console, name)),
        )
    except IamError as error:
        messages.error(request, f"{error.code}: {error.message}")
    else:
        request.session[NEW_KEY] = {
            "user": _user(console, name).arn,
            "id": key.access_key_id,
            "secret": secret,
        }
    return redirect(reverse("iam-user", args=[name]) + "#keys")


@require_POST
@console_page
def key_status(request, console: Console, name: str, key_id: str):
    status = request.POST.get("status", "")

    def status_set() -> None:
        key = found(selectors.access_key_get, iam_user=_user(console, name), access_key_id=key_id)
        services.access_key_status_set(key=key, status=status)

    console.attempt(
        "UpdateAccessKey",
        {"UserName": name},
        status_set,
        done=f"{key_id} is {status.lower()}.",
    )
    return redirect(reverse("iam-user", args=[name]) + "#keys")


@require_POST
@console_page
def key_delete(request, console: Console, name: str, key_id: str):
    def delete() -> None:
        key = found(selectors.access_key_get, iam_user=_user(console, name), access_key_id=key_id)
        services.access_key_delete(key=key)

    console.attempt("DeleteAccessKey", {"UserName": name}, delete, done=f"Deleted {key_id}.")
    return redirect(reverse("iam-user", args=[name]) + "#keys")
