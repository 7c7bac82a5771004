"""The IAM section's front page: what the account holds, the simulator, the audit log."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from iam.models import Group, IamUser, ManagedPolicy, Role
from iam.web.access import Console, console_page
from iam.web.audit_log import audit_log_visible
from iam.web.forms import SimulateForm
from iam.web.simulate import principal_choices, principals_of


@console_page
def overview(request, console: Console):
    """What the account holds, for whoever may list any of it."""
    may = console.abilities(
        users=("ListUsers", {}),
        groups=("ListGroups", {}),
        roles=("ListRoles", {}),
        policies=("ListPolicies", {}),
        simulate=("SimulatePrincipalPolicy", {}),
    )
    may["audit"] = audit_log_visible(console)
    if not any(may[section] for section in ("users", "groups", "roles", "policies")):
        raise PermissionDenied("You may not list anything in IAM.")
    account = console.account
    counts = {
        "users": IamUser.objects.filter(account=account).count() if may["users"] else None,
        "groups": Group.objects.filter(account=account).count() if may["groups"] else None,
        "roles": Role.objects.filter(account=account).count() if may["roles"] else None,
        "policies": ManagedPolicy.objects.filter(account=account).count() if may["policies"] else None,
    }
    form = SimulateForm(principals=principal_choices(principals_of(console))) if may["simulate"] else None
    return render(
        request, "iam/overview.html", {"account": account, "counts": counts, "may": may, "form": form}
    )
