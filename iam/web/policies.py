"""Managed policies: AWS's (read-only) and the account's own, with their versions.

A policy is named by its ARN, in the query string (``?arn=``) as AWS's console does, since an
ARN holds slashes."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from iam import managed, selectors, services
from iam.errors import IamError, ValidationError
from iam.models import ManagedPolicy, PolicyAttachment
from iam.web.access import Console, console_page, found
from iam.web.forms import PolicyCreateForm, PolicyVersionForm, refusal_show

SCOPES = {"all": "All", "aws": "AWS managed", "local": "Customer managed"}


def policy_url(arn: str, **extra: str) -> str:
    return f"{reverse('iam-policy')}?{urlencode({'arn': arn, **extra})}"


def _own_policy(console: Console, arn: str) -> ManagedPolicy:
    """The account's customer managed policy at ``arn``, or 404 (another account's is not
    visible, as through the API)."""
    try:
        account_id, _, _ = selectors.arn_split(arn, kind="policy")
    except ValidationError as error:
        raise Http404(error.message) from None
    if account_id != console.account.id:
        raise Http404(f"Policy {arn} does not exist or is not attachable.")
    return found(selectors.policy_get, arn=arn)


def _in_account(console: Console) -> Q:
    account = console.account
    return Q(user__account=account) | Q(group__account=account) | Q(role__account=account)


@console_page
def policy_list(request, console: Console):
    console.require("ListPolicies")
    scope = request.GET.get("scope", "all")
    query = request.GET.get("q", "").strip().lower()
    rows = []
    if scope in ("all", "local"):
        for policy in ManagedPolicy.objects.filter(account=console.account).order_by("name"):
            rows.append(
                {"arn": policy.arn, "name": policy.name, "description": policy.description, "aws": False}
            )
    if scope in ("all", "aws"):
        for arn, aws_policy in managed.MANAGED_POLICIES.items():
            rows.append(
                {
                    "arn": arn,
                    "name": aws_policy["PolicyName"],
                    "description": aws_policy["Description"],
                    "aws": True,
                }
            )
    if query:
        rows = [row for row in rows if query in row["name"].lower() or query in row["description"].lower()]
    counts = dict(
        PolicyAttachment.objects.filter(_in_account(console), policy_arn__in=[row["arn"] for row in rows])
        .values_list("policy_arn")
        .annotate(n=Count("id"))
    )
    for row in rows:
        row["attachments"] = counts.get(row["arn"], 0)
    return render(
        request,
        "iam/policies.html",
        {
            "rows": rows,
            "scope": scope,
            "scopes": SCOPES,
            "query": request.GET.get("q", ""),
            "can_create": console.may("CreatePolicy"),
        },
    )


@console_page
def policy_new(request, console: Console):
    console.require("CreatePolicy")
    form = PolicyCreateForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
        try:
            policy = console.change(
                "CreatePolicy",
                {},
                lambda: services.policy_create(
                    account=console.account,
                    name=values["name"],
                    document=values["document"],
                    description=values["description"],
                ),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Created policy {policy.name}.")
            return redirect(policy_url(policy.arn))
    return render(
        request,
        "iam/document_form.html",
        {
            "title": "Create policy",
            "lead": "A customer managed policy: attach it to users, groups and roles of this account.",
            "back": reverse("iam-policies"),
            "form": form,
            "submit": "Create policy",
        },
        status=400 if form.is_bound else 200,
    )


@console_page
def policy_detail(request, console: Console):
    arn = request.GET.get("arn", "")
    console.require("GetPolicy", PolicyArn=arn)
    attached_to = PolicyAttachment.objects.filter(_in_account(console), policy_arn=arn).select_related(
        "user", "group", "role"
    )
    context: dict = {"arn": arn, "attached_to": attached_to, "policy_url": policy_url(arn)}
    if arn.startswith("arn:aws:iam::aws:"):
        aws_policy = managed.managed_policy(arn)
        if aws_policy is None:
            raise Http404(f"Policy {arn} does not exist or is not attachable.")
        context.update(
            aws=True,
            name=aws_policy["PolicyName"],
            description=aws_policy["Description"],
            document=selectors.aws_managed_document(arn),
            version_id="v1",
        )
        return render(request, "iam/policy.html", context)
    policy = _own_policy(console, arn)
    versions = list(policy.versions.order_by("-created_at", "-id"))
    wanted = request.GET.get("version")
    shown = next((v for v in versions if v.version_id == wanted), None) or next(
        (v for v in versions if v.is_default), versions[0] if versions else None
    )
    names = {"PolicyArn": arn}
    context.update(
        aws=False,
        policy=policy,
        name=policy.name,
        description=policy.description,
        versions=versions if console.may("ListPolicyVersions", **names) else None,
        document=shown.document if shown else "",
        version_id=shown.version_id if shown else "",
        can=console.abilities(
            delete=("DeletePolicy", names),
            new_version=("CreatePolicyVersion", names),
            set_default=("SetDefaultPolicyVersion", names),
            delete_version=("DeletePolicyVersion", names),
        ),
    )
    return render(request, "iam/policy.html", context)


@console_page
def policy_version_new(request, console: Console):
    arn = request.GET.get("arn", "")
    console.require("CreatePolicyVersion", PolicyArn=arn)
    policy = _own_policy(console, arn)
    default = policy.versions.filter(is_default=True).first()
    form = PolicyVersionForm(
        request.POST if request.method == "POST" else None,
        initial={"document": default.document if default else "", "set_as_default": True},
    )
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
        try:
            version = console.change(
                "CreatePolicyVersion",
                {"PolicyArn": arn},
                lambda: services.policy_version_create(
                    policy=policy, document=values["document"], set_as_default=values["set_as_default"]
                ),
            )
        except IamError as error:
            refusal_show(form, error)
        else:
            messages.success(request, f"Created version {version.version_id} of {policy.name}.")
            return redirect(policy_url(arn, version=version.version_id))
    return render(
        request,
        "iam/document_form.html",
        {
            "title": f"New version of {policy.name}",
            "lead": f"A policy keeps up to {services.MAX_POLICY_VERSIONS} versions; the default one applies.",
            "back": policy_url(arn),
            "form": form,
            "submit": "Create version",
        },
        status=400 if form.is_bound else 200,
    )


@require_POST
@console_page
def policy_version_default(request, console: Console):
    arn, version_id = request.POST.get("arn", ""), request.POST.get("version", "")

    def default_set() -> None:
        policy = _own_policy(console, arn)
        services.policy_version_default_set(
            version=found(selectors.policy_version_get, policy=policy, version_id=version_id)
        )

    console.attempt(
        "SetDefaultPolicyVersion", {"PolicyArn": arn}, default_set, done=f"{version_id} is now the default."
    )
    return redirect(policy_url(arn))


@require_POST
@console_page
def policy_version_delete(request, console: Console):
    arn, version_id = request.POST.get("arn", ""), request.POST.get("version", "")

    def delete() -> None:
        policy = _own_policy(console, arn)
        services.policy_version_delete(
            version=found(selectors.policy_version_get, policy=policy, version_id=version_id)
        )

    console.attempt("DeletePolicyVersion", {"PolicyArn": arn}, delete, done=f"Deleted version {version_id}.")
    return redirect(policy_url(arn))


@require_POST
@console_page
def policy_delete(request, console: Console):
    arn = request.POST.get("arn", "")
    if console.attempt(
        "DeletePolicy",
        {"PolicyArn": arn},
        lambda: services.policy_delete(policy=_own_policy(console, arn)),
        done=f"Deleted policy {arn.rsplit('/', 1)[-1]}.",
    ):
        return redirect("iam-policies")
    return redirect(policy_url(arn))
