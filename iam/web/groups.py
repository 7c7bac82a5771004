"""IAM groups: list, create, delete, one group's page with its members and policies."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from iam import services
from iam.errors import IamError
from iam.models import Group, IamUser
from iam.web.access import Console, console_page
from iam.web.forms import NameForm, refusal_show
from iam.web.principals import KINDS, policies_context


def _group(console: Console, name: str) -> Group:
    return KINDS["groups"].get(console, name)  # type: ignore[return-value]


@console_page
def group_list(request, console: Console):
    if request.method == "POST":
        console.require("CreateGroup", GroupName=request.POST.get("name", ""))
    console.require("ListGroups")
    form = NameForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        name = form.cleaned_data["name"]
        try:
            console.change(
                "CreateGroup",
                {"GroupName": name},
                lambda: services.group_create(account=console.account, name=name),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Created group {name}.")
            return redirect("iam-group", name)
    groups = (
        Group.objects.filter(account=console.account).annotate(member_count=Count("members")).order_by("name")
    )
    return render(
        request,
        "iam/groups.html",
        {"groups": groups, "form": form, "can_create": console.may("CreateGroup")},
        status=400 if form.is_bound else 200,
    )


@console_page
def group_detail(request, console: Console, name: str):
    console.require("GetGroup", GroupName=name)
    group = _group(console, name)
    members = list(group.members.order_by("name"))
    context = policies_context(console, group)
    context.update(
        group=group,
        group_can=console.abilities(
            delete=("DeleteGroup", {"GroupName": name}),
            # Asked before a user is chosen; the change itself is asked with the user named.
            add_member=("AddUserToGroup", {"GroupName": name}),
            remove_member=("RemoveUserFromGroup", {"GroupName": name}),
        ),
        members=members,
        non_members=IamUser.objects.filter(account=console.account)
        .exclude(pk__in=[member.pk for member in members])
        .order_by("name"),
    )
    return render(request, "iam/group.html", context)


@require_POST
@console_page
def group_delete(request, console: Console, name: str):
    if console.attempt(
        "DeleteGroup",
        {"GroupName": name},
        lambda: services.group_delete(group=_group(console, name)),
        done=f"Deleted group {name}.",
    ):
        return redirect("iam-groups")
    return redirect("iam-group", name)


def _membership_change(console: Console, *, group_name: str, user_name: str) -> None:
    """Add the user to the group, or remove it (the form's ``change``: ``add`` or ``remove``)."""
    adding = console.request.POST.get("change") == "add"

    def change() -> None:
        group, iam_user = _group(console, group_name), KINDS["users"].get(console, user_name)
        if adding:
            services.group_member_add(group=group, iam_user=iam_user)  # type: ignore[arg-type]
        else:
            services.group_member_remove(group=group, iam_user=iam_user)  # type: ignore[arg-type]

    console.attempt(
        "AddUserToGroup" if adding else "RemoveUserFromGroup",
        {"GroupName": group_name, "UserName": user_name},
        change,
        done=f"{'Added' if adding else 'Removed'} {user_name} {'to' if adding else 'from'} {group_name}.",
    )


@require_POST
@console_page
def group_membership(request, console: Console, name: str):
    """From the group's page: a member added or removed."""
    _membership_change(console, group_name=name, user_name=request.POST.get("user", ""))
    return redirect("iam-group", name)


@require_POST
@console_page
def user_membership(request, console: Console, name: str):
    """From the user's page: a group joined or left."""
    _membership_change(console, group_name=request.POST.get("group", ""), user_name=name)
    return redirect("iam-user", name)
