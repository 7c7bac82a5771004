"""Authorization of signed requests: may this caller do this action on this resource?

Every API asks ``authorize``; it evaluates AWS's logic (iam/policy.py) over the caller's
identity policies (an IAM user's own and its groups', or an assumed role's) and, where the
resource has one, its resource-based policy. Django superusers are administrators of every
account and are never refused.

Parsed identity policies are cached per principal in each process (``dashboard.caches``):
any committed change to IAM's data, to an access key or to a Django user replaces the
caches' token in Redis, and the very next request, in any process, reads them anew.

``STRATUS_AUTHORIZATION=off`` skips evaluation entirely. It exists for the benchmark that
measures what authorization costs, and nothing else should set it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from dashboard.caches import Cache, changed, watch
from functions_app.models import AccessKey
from iam import models
from iam.audit import audit_record
from iam.callers import SignedCaller
from iam.errors import MalformedPolicyDocument
from iam.policy import Decision, Policy, RequestContext, evaluate, policy_parse
from iam.selectors import caller_identity, identity_policies

logger = logging.getLogger("stratus.iam")

# Who may call, and what they may do: a change to any of these applies to the next request.
watch(
    AccessKey,
    models.IamUser,
    models.Group,
    models.Role,
    models.ManagedPolicy,
    models.PolicyVersion,
    models.PolicyAttachment,
    models.InlinePolicy,
)
m2m_changed.connect(changed, sender=models.Group.members.through, dispatch_uid="stratus-caches-members")


def _user_changed(update_fields=None, **kwargs: object) -> None:
    """A Django user changed (deactivated, made a superuser), not a login recording its time."""
    if update_fields is None or set(update_fields) - {"last_login"}:
        changed(**kwargs)


post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="stratus-caches-user-save")
post_delete.connect(changed, sender=get_user_model(), dispatch_uid="stratus-caches-user-delete")

# Parsed identity policies by principal; shared (Policy objects are immutable).
_policies = Cache("identity policies")


def caller_policies(caller: SignedCaller) -> list[Policy]:
    """The identity policies that apply to ``caller``, parsed, from the cache when current."""
    return identity_policies_cached(caller_identity(caller))


def identity_policies_cached(identity: models.IamUser | models.Role | None) -> list[Policy]:
    """The identity policies of an IAM user (its own and its groups') or a role, parsed,
    from this process's cache while nothing they depend on has changed."""
    if identity is None:
        return []
    return _policies.get((type(identity).__name__, identity.pk), lambda: identity_policies(identity))


def authorization_enabled() -> bool:
    return os.environ.get("STRATUS_AUTHORIZATION", "on").lower() != "off"


def authorize(
    caller: SignedCaller,
    *,
    action: str,
    resource: str,
    resource_policy: Policy | None = None,
    condition_keys: Mapping[str, str | Sequence[str]] | None = None,
    resource_account: str | None = None,
) -> Decision | None:
    """AWS's decision for ``caller`` doing ``action`` on ``resource``; None when no policy is
    consulted (a superuser, or evaluation switched off for a benchmark)."""
    if not evaluates(caller):
        return None
    context = RequestContext(
        principal_arn=caller.principal_arn,
        principal_account=caller.account_id,
        action=action,
        resource=resource,
        resource_account=resource_account,
        condition_keys=dict(condition_keys or {}),
    )
    return evaluate(context, identity_policies=caller_policies(caller), resource_policy=resource_policy)


def denial_message(caller: SignedCaller, *, action: str, resource: str, decision: Decision) -> str:
    """AWS's wording for a refusal, naming the principal, the action and the resource."""
    if decision.reason == "explicit_deny":
        why = f"with an explicit deny in {_policy_kind(decision)}"
    elif decision.detail.startswith("cross-account: no resource-based"):
        why = f"because no resource-based policy allows the {action} action"
    else:
        why = f"because no identity-based policy allows the {action} action"
    return (
        f"User: {caller.principal_arn} is not authorized to perform: {action} on resource: {resource} {why}"
    )


def _policy_kind(decision: Decision) -> str:
    """Identity policies are labelled by name (inline) or IAM policy ARN (managed); a
    resource's policy by the resource's ARN (a function's, a queue's, a topic's)."""
    statement = decision.statement
    parts = statement.policy.split(":") if statement is not None else []
    if len(parts) > 2 and parts[0] == "arn" and parts[2] != "iam":
        return "a resource-based policy"
    return "an identity-based policy"


def operation_denial(
    caller: SignedCaller,
    *,
    action: str,
    resource: str,
    resource_policy: Policy | None = None,
    resource_account: str | None = None,
    condition_keys: Mapping[str, str] | None = None,
    request=None,
) -> str | None:
    """None when ``caller`` may do ``action`` on ``resource``; else AWS's refusal message, for
    the service to raise in its own error shape (AccessDenied, AuthorizationError, ...). A
    refusal is recorded in the audit log (with ``request``'s id and address)."""
    decision = authorize(
        caller,
        action=action,
        resource=resource,
        resource_policy=resource_policy,
        resource_account=resource_account,
        condition_keys=condition_keys,
    )
    if decision is None or decision.allowed:
        return None
    audit_record(caller, action=action, resource=resource, allowed=False, status=403, request=request)
    return denial_message(caller, action=action, resource=resource, decision=decision)


def evaluates(caller: SignedCaller) -> bool:
    """Whether ``caller``'s calls are evaluated at all (not a superuser's, not with evaluation
    switched off): when not, a resource's policy need not even be read."""
    return authorization_enabled() and not (caller.session is None and getattr(caller.user, "is_superuser", False))


@functools.lru_cache(maxsize=512)
def _resource_policy_parsed(document: str, arn: str) -> Policy:
    return policy_parse(document, kind="resource", label=arn)


def resource_policy(document: str | None, arn: str) -> Policy | None:
    """The parsed policy ``document`` stored on the resource ``arn`` (a queue's, a topic's),
    cached by its text; None for none. A stored document that no longer parses (kept before
    policies were checked) is logged and counts as none, so the resource stays usable."""
    if not document:
        return None
    try:
        return _resource_policy_parsed(document, arn)
    except MalformedPolicyDocument:
        logger.warning("the policy stored on %s is not a valid policy; it is ignored", arn)
        return None


def anonymous_allowed(
    *,
    action: str,
    resource: str,
    resource_policy: Policy | None,
    condition_keys: Mapping[str, str] | None = None,
) -> bool:
    """Whether an unsigned caller may do ``action``: only a resource policy naming ``*`` can
    allow that (a public function URL, say)."""
    if resource_policy is None:
        return False
    context = RequestContext(
        principal_arn="*",
        principal_account="",
        action=action,
        resource=resource,
        condition_keys=dict(condition_keys or {}),
    )
    return evaluate(context, resource_policy=resource_policy).allowed
