"""IAM roles: list, create (trusting Lambda unless told otherwise), the trust policy editor,
delete, and one role's page with its policies and the functions that run as it."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from functions_app.models import LATEST, FunctionVersion
from iam import services
from iam.errors import IamError
from iam.models import Role
from iam.web.access import Console, console_page
from iam.web.forms import RoleCreateForm, TrustPolicyForm, refusal_show
from iam.web.principals import KINDS, policies_context


def _role(console: Console, name: str) -> Role:
    return KINDS["roles"].get(console, name)  # type: ignore[return-value]


def trusted_entities(trust_policy: str) -> list[str]:
    """Who an Allow of the trust policy names (services, accounts, ARNs), for a glance."""
    try:
        statements = json.loads(trust_policy).get("Statement", [])
    except (ValueError, AttributeError):
        return []
    entities: list[str] = []
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        values = principal.values() if isinstance(principal, dict) else [principal]
        for value in values:
            entities.extend(value if isinstance(value, list) else [value])
    return [str(entity) for entity in entities if entity]


@console_page
def role_list(request, console: Console):
    console.require("ListRoles")
    roles = [
        {"role": role, "trusted": trusted_entities(role.trust_policy)}
        for role in Role.objects.filter(account=console.account).order_by("name")
    ]
    return render(request, "iam/roles.html", {"roles": roles, "can_create": console.may("CreateRole")})


@console_page
def role_new(request, console: Console):
    console.require("CreateRole", RoleName=request.POST.get("name", ""))
    form = RoleCreateForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
        try:
            console.change(
                "CreateRole",
                {"RoleName": values["name"]},
                lambda: services.role_create(
                    account=console.account,
                    name=values["name"],
                    trust_policy=values["document"],
                    description=values["description"],
                ),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Created role {values['name']}.")
            return redirect("iam-role", values["name"])
    return render(
        request,
        "iam/document_form.html",
        {
            "title": "Create role",
            "lead": "The trust policy says who may assume the role; the default lets Lambda run "
            "functions as it.",
            "back": reverse("iam-roles"),
            "form": form,
            "submit": "Create role",
        },
        status=400 if form.is_bound else 200,
    )


@console_page
def role_detail(request, console: Console, name: str):
    console.require("GetRole", RoleName=name)
    role = _role(console, name)
    context = policies_context(console, role)
    names = {"RoleName": name}
    context.update(
        role=role,
        trusted=trusted_entities(role.trust_policy),
        role_can=console.abilities(delete=("DeleteRole", names), trust=("UpdateAssumeRolePolicy", names)),
        functions=FunctionVersion.objects.filter(version=LATEST, role=role.arn)
        .select_related("function")
        .order_by("function__name"),
    )
    return render(request, "iam/role.html", context)


@console_page
def role_trust(request, console: Console, name: str):
    """The trust policy editor."""
    console.require("UpdateAssumeRolePolicy", RoleName=name)
    role = _role(console, name)
    form = TrustPolicyForm(
        request.POST if request.method == "POST" else None, initial={"document": role.trust_policy}
    )
    if form.is_bound and form.is_valid():
        document = form.cleaned_data["document"]
        try:
            console.change(
                "UpdateAssumeRolePolicy",
                {"RoleName": name},
                lambda: services.role_trust_update(role=role, trust_policy=document),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Saved the trust policy of {name}.")
            return redirect("iam-role", name)
    return render(
        request,
        "iam/document_form.html",
        {
            "title": f"Trust policy of {name}",
            "lead": "Who may assume this role (sts:AssumeRole), and on what conditions.",
            "back": reverse("iam-role", args=[name]),
            "form": form,
            "submit": "Save trust policy",
        },
        status=400 if form.is_bound else 200,
    )


@require_POST
@console_page
def role_delete(request, console: Console, name: str):
    if console.attempt(
        "DeleteRole",
        {"RoleName": name},
        lambda: services.role_delete(role=_role(console, name)),
        done=f"Deleted role {name}.",
    ):
        return redirect("iam-roles")
    return redirect("iam-role", name)
