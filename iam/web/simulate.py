"""The policy simulator: may PRINCIPAL do ACTION on RESOURCE?

The simulator answers as SimulatePrincipalPolicy does (``iam.api.reports``): the principal's
identity policies, evaluated by ``iam.policy`` through ``selectors.identity_decision``. The
evaluator's decision names the statements that decided it, and so does the answer.
"""

from __future__ import annotations

from django.shortcuts import render

from iam import selectors
from iam.models import IamUser, Role
from iam.web.access import Console, console_page
from iam.web.forms import SimulateForm

VERDICTS = {
    "allowed": "Allowed",
    "explicit_deny": "Explicitly denied",
    "implicit_deny": "Implicitly denied (no policy allows it)",
}


def principals_of(console: Console) -> dict[str, IamUser | Role]:
    """The users and roles of the account, by ARN."""
    users = IamUser.objects.filter(account=console.account).select_related("user").order_by("name")
    roles = Role.objects.filter(account=console.account).order_by("name")
    return {principal.arn: principal for principal in [*users, *roles]}


def principal_choices(principals: dict[str, IamUser | Role]) -> list[tuple[str, str]]:
    return [
        (arn, f"{'user' if isinstance(principal, IamUser) else 'role'}: {principal.name}")
        for arn, principal in principals.items()
    ]


@console_page
def simulate(request, console: Console):
    console.require("SimulatePrincipalPolicy")
    principals = principals_of(console)
    form = SimulateForm(
        request.GET if "action" in request.GET else None, principals=principal_choices(principals)
    )
    result = None
    if form.is_bound and form.is_valid():
        source = principals[form.cleaned_data["principal"]]
        decision = selectors.identity_decision(
            policies=selectors.identity_policies(source),
            principal_arn=source.arn,
            principal_account=source.account_id,
            action=form.cleaned_data["action"],
            resource=form.cleaned_data["resource"],
        )
        result = {
            "decision": decision,
            "verdict": VERDICTS[decision.reason],
            "source": source,
            # A superuser is never refused, whatever its policies (iam.authorization).
            "superuser": isinstance(source, IamUser) and source.user.is_superuser,
        }
    return render(request, "iam/simulate.html", {"form": form, "result": result})
