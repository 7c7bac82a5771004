"""What users, groups and roles share: attached managed policies and inline policies.

One table, ``KINDS``, says for each kind which selector finds it, which API parameter names
it and what its operations are called (``AttachUserPolicy``, ``PutRolePolicy``…); the views
below serve all three from it, as the IAM API's own table does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from iam import managed, selectors, services
from iam.errors import IamError
from iam.models import Group, IamUser, ManagedPolicy, Role
from iam.web.access import Console, console_page, found
from iam.web.forms import InlinePolicyForm, refusal_show


@dataclass(frozen=True)
class Kind:
    slug: str  # in URLs: users, groups, roles
    noun: str  # in operation names: AttachUserPolicy
    param: str  # the API parameter naming one: UserName
    lookup: Callable[..., IamUser | Group | Role]
    page: str  # the URL name of one's page

    def get(self, console: Console, name: str) -> IamUser | Group | Role:
        """The one named ``name`` in the console's account, or 404."""
        return found(self.lookup, account_id=console.account.id, name=name)

    def url(self, name: str) -> str:
        return reverse(self.page, args=[name])


KINDS = {
    "users": Kind("users", "User", "UserName", selectors.user_get, "iam-user"),
    "groups": Kind("groups", "Group", "GroupName", selectors.group_get, "iam-group"),
    "roles": Kind("roles", "Role", "RoleName", selectors.role_get, "iam-role"),
}
KIND_OF = {IamUser: KINDS["users"], Group: KINDS["groups"], Role: KINDS["roles"]}


def attachable_policies(console: Console) -> list[tuple[str, str]]:
    """``(ARN, label)`` of every policy that may be attached in the account: its own first."""
    own = ManagedPolicy.objects.filter(account=console.account).order_by("name")
    return [(policy.arn, f"{policy.name} (customer managed)") for policy in own] + [
        (arn, f"{found_policy['PolicyName']} (AWS managed)")
        for arn, found_policy in sorted(managed.MANAGED_POLICIES.items())
    ]


def policies_context(console: Console, principal: IamUser | Group | Role) -> dict:
    """What a user's, group's or role's page shows of its policies, and which changes it offers."""
    kind = KIND_OF[type(principal)]
    names = {kind.param: principal.name}
    can = console.abilities(
        list_attached=(f"ListAttached{kind.noun}Policies", names),
        attach=(f"Attach{kind.noun}Policy", names),
        detach=(f"Detach{kind.noun}Policy", names),
        list_inline=(f"List{kind.noun}Policies", names),
        get_inline=(f"Get{kind.noun}Policy", names),
        put_inline=(f"Put{kind.noun}Policy", names),
        delete_inline=(f"Delete{kind.noun}Policy", names),
    )
    attached = [
        {"arn": arn, "name": arn.rsplit("/", 1)[-1], "aws": arn.startswith("arn:aws:iam::aws:")}
        for arn in selectors.attached_arns(principal)
    ]
    inline = list(principal.inline_policies.order_by("name"))
    taken = {entry["arn"] for entry in attached}
    return {
        "kind": kind,
        "principal": principal,
        "can": can,
        "attached": attached if can["list_attached"] else None,
        "inline": inline if can["list_inline"] else None,
        "attachable": [option for option in attachable_policies(console) if option[0] not in taken],
    }


@require_POST
@console_page
def policy_attach(request, console: Console, kind: str, name: str):
    entity_kind = KINDS[kind]
    arn = request.POST.get("policy_arn", "")
    console.attempt(
        f"Attach{entity_kind.noun}Policy",
        {entity_kind.param: name, "PolicyArn": arn},
        lambda: services.policy_attach(principal=entity_kind.get(console, name), policy_arn=arn),
        done=f"Attached {arn.rsplit('/', 1)[-1]} to {name}.",
    )
    return redirect(entity_kind.url(name))


@require_POST
@console_page
def policy_detach(request, console: Console, kind: str, name: str):
    entity_kind = KINDS[kind]
    arn = request.POST.get("policy_arn", "")
    console.attempt(
        f"Detach{entity_kind.noun}Policy",
        {entity_kind.param: name, "PolicyArn": arn},
        lambda: services.policy_detach(principal=entity_kind.get(console, name), policy_arn=arn),
        done=f"Detached {arn.rsplit('/', 1)[-1]} from {name}.",
    )
    return redirect(entity_kind.url(name))


@console_page
def inline_policy_edit(request, console: Console, kind: str, name: str, policy: str | None = None):
    """Add an inline policy (``policy`` None) or edit one, in the JSON editor."""
    entity_kind = KINDS[kind]
    names = {entity_kind.param: name}
    put = f"Put{entity_kind.noun}Policy"
    initial = {} if policy is None else {"name": policy}
    if request.method == "POST":
        console.require(put, **names)
    else:
        console.require(put if policy is None else f"Get{entity_kind.noun}Policy", **names)
        principal = entity_kind.get(console, name)
        if policy is not None:
            existing = found(services.inline_policy_get, principal=principal, name=policy)
            initial["document"] = existing.document
    form = InlinePolicyForm(request.POST if request.method == "POST" else None, initial=initial)
    # Editing keeps the name: a policy under another name is a new one.
    form.fields["name"].disabled = policy is not None
    if form.is_bound and form.is_valid():
        try:
            console.change(
                put,
                names,
                lambda: services.inline_policy_put(
                    principal=entity_kind.get(console, name),
                    name=form.cleaned_data["name"],
                    document=form.cleaned_data["document"],
                ),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Saved the inline policy {form.cleaned_data['name']}.")
            return redirect(entity_kind.url(name))
    return render(
        request,
        "iam/document_form.html",
        {
            "title": f"Inline policy {policy}" if policy else "Add an inline policy",
            "lead": f"Embedded in {entity_kind.noun.lower()} {name}: it applies to it alone.",
            "back": entity_kind.url(name),
            "form": form,
            "submit": "Save policy",
        },
        status=400 if form.is_bound else 200,
    )


@require_POST
@console_page
def inline_policy_delete(request, console: Console, kind: str, name: str, policy: str):
    entity_kind = KINDS[kind]
    console.attempt(
        f"Delete{entity_kind.noun}Policy",
        {entity_kind.param: name},
        lambda: services.inline_policy_delete(principal=entity_kind.get(console, name), name=policy),
        done=f"Deleted the inline policy {policy}.",
    )
    return redirect(entity_kind.url(name))
