"""AWS's IAM policy evaluation, case by case: the IAM User Guide's documented behaviours as
tables of requests, policies and the decision AWS reaches. Plain unit tests: no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from iam.errors import MalformedPolicyDocument
from iam.managed import MANAGED_POLICIES, managed_policy
from iam.policy import RequestContext, evaluate, policy_parse

ACCOUNT = "123456789012"
OTHER = "210987654321"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/engineering/bob"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
CAROL = f"arn:aws:iam::{OTHER}:user/carol"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/build-42"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci/deployer"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-fn"
OTHER_FUNCTION = f"arn:aws:lambda:us-east-1:{OTHER}:function:shared"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
BUCKET = "arn:aws:s3:::uploads"


def allow(action: Any = "lambda:InvokeFunction", resource: Any = "*", **elements: Any) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **elements}


def deny(action: Any = "lambda:InvokeFunction", resource: Any = "*", **elements: Any) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **elements}


def grant(
    principal: Any, action: Any = "lambda:InvokeFunction", resource: Any = FUNCTION, **elements: Any
) -> dict:
    """A resource-based policy statement."""
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **elements}


def document(*statements: dict, version: str = "2012-10-17") -> dict:
    return {"Version": version, "Statement": list(statements)}


@dataclass(frozen=True)
class Case:
    expect: str  # "allowed" | "explicit_deny" | "implicit_deny"
    principal: str = ALICE
    account: str = ACCOUNT
    action: str = "lambda:InvokeFunction"
    resource: str = FUNCTION
    identity: tuple[dict, ...] = ()
    resource_policy: dict | None = None
    resource_kind: str = "resource"
    session: tuple[dict, ...] | None = None
    keys: dict[str, Any] = field(default_factory=dict)


def case(case_id: str, expect: str, **fields: Any):
    for name in ("identity", "session"):
        if name in fields and fields[name] is not None:
            fields[name] = tuple(fields[name])
    return pytest.param(Case(expect, **fields), id=case_id)


def decide(c: Case):
    context = RequestContext(c.principal, c.account, c.action, c.resource, condition_keys=c.keys)
    resource_policy = None
    if c.resource_policy is not None:
        resource_policy = policy_parse(c.resource_policy, kind=c.resource_kind, label="resource-policy")
    sessions = None
    if c.session is not None:
        sessions = [policy_parse(d, label=f"session-{i}") for i, d in enumerate(c.session)]
    return evaluate(
        context,
        identity_policies=[policy_parse(d, label=f"identity-{i}") for i, d in enumerate(c.identity)],
        resource_policy=resource_policy,
        session_policies=sessions,
    )


NOT_IAM = document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
# The two statements Lambda writes for a function URL whose AuthType is NONE.
PUBLIC_URL = document(
    grant(
        "*",
        "lambda:InvokeFunctionUrl",
        Sid="FunctionURLAllowPublicAccess",
        Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}},
    ),
    grant(
        "*",
        "lambda:InvokeFunction",
        Sid="FunctionURLInvokeAllowPublicAccess",
        Condition={"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
    ),
)
NOT_PRINCIPAL_DENY = document(
    {"Effect": "Deny", "NotPrincipal": {"AWS": [ALICE, ACCOUNT]}, "Action": "lambda:*", "Resource": FUNCTION}
)

EVALUATION = [
    # The basics (IAM User Guide, "How AWS enforcement code logic evaluates requests").
    case("no-policy-is-an-implicit-deny", "implicit_deny"),
    case("identity-allow", "allowed", identity=[document(allow())]),
    case(
        "allow-for-another-action-does-not-apply",
        "implicit_deny",
        identity=[document(allow("lambda:GetFunction"))],
    ),
    case(
        "identity-deny-beats-identity-allow",
        "explicit_deny",
        identity=[document(allow("*")), document(deny())],
    ),
    case(
        "identity-deny-beats-resource-allow",
        "explicit_deny",
        identity=[document(deny())],
        resource_policy=document(grant({"AWS": ALICE})),
    ),
    case(
        "resource-deny-beats-identity-allow",
        "explicit_deny",
        identity=[document(allow("lambda:*"))],
        resource_policy=document({**grant({"AWS": ALICE}), "Effect": "Deny"}),
    ),
    case(
        "resource-deny-naming-the-account-covers-its-users",
        "explicit_deny",
        identity=[document(allow("lambda:*"))],
        resource_policy=document({**grant({"AWS": ACCOUNT}), "Effect": "Deny"}),
    ),
    case(
        "resource-deny-for-someone-else-does-not-apply",
        "allowed",
        identity=[document(allow("lambda:*"))],
        resource_policy=document({**grant({"AWS": BOB}), "Effect": "Deny"}),
    ),
    # NotAction and NotResource.
    case("not-action-allows-everything-else", "allowed", identity=[NOT_IAM]),
    case(
        "not-action-excludes-its-actions",
        "implicit_deny",
        action="iam:CreateUser",
        resource="*",
        identity=[NOT_IAM],
    ),
    case(
        "deny-not-action-denies-all-but-its-actions",
        "explicit_deny",
        action="lambda:DeleteFunction",
        identity=[
            document(allow("lambda:*"), {"Effect": "Deny", "NotAction": "lambda:Get*", "Resource": "*"})
        ],
    ),
    case(
        "not-resource-allows-other-resources",
        "allowed",
        identity=[document({"Effect": "Allow", "Action": "lambda:*", "NotResource": OTHER_FUNCTION})],
    ),
    case(
        "not-resource-excludes-its-resources",
        "implicit_deny",
        identity=[
            document(
                {"Effect": "Allow", "Action": "lambda:*", "NotResource": "arn:aws:lambda:*:*:function:my-*"}
            )
        ],
    ),
    case(
        "deny-not-resource-protects-all-but-listed",
        "explicit_deny",
        identity=[
            document(
                allow("lambda:*"), {"Effect": "Deny", "Action": "lambda:*", "NotResource": OTHER_FUNCTION}
            )
        ],
    ),
    # Cross-account: both sides must allow ("Cross-account policy evaluation logic").
    case(
        "cross-account-identity-only",
        "implicit_deny",
        resource=OTHER_FUNCTION,
        identity=[document(allow())],
    ),
    case(
        "cross-account-resource-only",
        "implicit_deny",
        resource=OTHER_FUNCTION,
        resource_policy=document(grant({"AWS": ALICE}, resource=OTHER_FUNCTION)),
    ),
    case(
        "cross-account-both-sides",
        "allowed",
        resource=OTHER_FUNCTION,
        identity=[document(allow())],
        resource_policy=document(grant({"AWS": ALICE}, resource=OTHER_FUNCTION)),
    ),
    case(
        "cross-account-to-the-account-id",
        "allowed",
        resource=OTHER_FUNCTION,
        identity=[document(allow())],
        resource_policy=document(grant({"AWS": ACCOUNT}, resource=OTHER_FUNCTION)),
    ),
    case(
        "cross-account-to-the-account-root-arn",
        "allowed",
        resource=OTHER_FUNCTION,
        identity=[document(allow())],
        resource_policy=document(grant({"AWS": ROOT}, resource=OTHER_FUNCTION)),
    ),
    case(
        "cross-account-to-a-third-account",
        "implicit_deny",
        resource=OTHER_FUNCTION,
        identity=[document(allow())],
        resource_policy=document(grant({"AWS": "999999999999"}, resource=OTHER_FUNCTION)),
    ),
    # Same account: the resource-based policy alone can allow, unless it names only the account.
    case(
        "same-account-resource-policy-names-the-user",
        "allowed",
        resource_policy=document(grant({"AWS": ALICE})),
    ),
    case(
        "same-account-user-with-path",
        "allowed",
        principal=BOB,
        resource_policy=document(grant({"AWS": [ALICE, BOB]})),
    ),
    case("same-account-names-another-user", "implicit_deny", resource_policy=document(grant({"AWS": BOB}))),
    case(
        "same-account-account-id-delegates",
        "implicit_deny",
        resource_policy=document(grant({"AWS": ACCOUNT})),
    ),
    case("same-account-root-arn-delegates", "implicit_deny", resource_policy=document(grant({"AWS": ROOT}))),
    case(
        "same-account-delegation-plus-identity",
        "allowed",
        identity=[document(allow())],
        resource_policy=document(grant({"AWS": ROOT})),
    ),
    case("account-root-user-needs-no-policy", "allowed", principal=ROOT),
    case(
        "account-root-user-is-denied-explicitly", "explicit_deny", principal=ROOT, identity=[document(deny())]
    ),
    case("account-root-user-cross-account", "implicit_deny", principal=ROOT, resource=OTHER_FUNCTION),
    case("wildcard-principal-alone", "allowed", resource_policy=document(grant("*"))),
    case("aws-wildcard-principal-alone", "allowed", resource_policy=document(grant({"AWS": "*"}))),
    case(
        "wildcard-principal-cross-account-still-needs-identity",
        "implicit_deny",
        principal=CAROL,
        account=OTHER,
        resource_policy=document(grant("*")),
    ),
    # Assumed-role sessions: a role's ARN names its sessions (the session ARN drops the path).
    case(
        "role-arn-names-its-session",
        "allowed",
        principal=SESSION,
        resource_policy=document(grant({"AWS": ROLE})),
    ),
    case(
        "session-arn-names-itself",
        "allowed",
        principal=SESSION,
        resource_policy=document(grant({"AWS": SESSION})),
    ),
    case(
        "another-role-does-not-name-the-session",
        "implicit_deny",
        principal=SESSION,
        resource_policy=document(grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"})),
    ),
    case(
        "same-role-name-in-another-account",
        "implicit_deny",
        principal=SESSION,
        resource_policy=document(grant({"AWS": f"arn:aws:iam::{OTHER}:role/deployer"})),
    ),
    case(
        "session-policy-caps-identity",
        "implicit_deny",
        principal=SESSION,
        identity=[document(allow("lambda:*"))],
        session=[document(allow("lambda:Get*"))],
    ),
    case(
        "session-policy-and-identity-both-allow",
        "allowed",
        principal=SESSION,
        identity=[document(allow("lambda:*"))],
        session=[document(allow("lambda:Invoke*"))],
    ),
    case(
        "session-policy-caps-grant-to-role-arn",
        "implicit_deny",
        principal=SESSION,
        resource_policy=document(grant({"AWS": ROLE})),
        session=[document(allow("sqs:*"))],
    ),
    case(
        "session-policy-does-not-cap-grant-to-session-arn",
        "allowed",
        principal=SESSION,
        resource_policy=document(grant({"AWS": SESSION})),
        session=[document(allow("sqs:*"))],
    ),
    # Service principals, with the confused-deputy conditions AWS recommends.
    case(
        "service-with-source-arn-and-account",
        "allowed",
        principal="s3.amazonaws.com",
        account="",
        keys={"aws:SourceArn": BUCKET, "aws:SourceAccount": ACCOUNT},
        resource_policy=document(
            grant(
                {"Service": "s3.amazonaws.com"},
                Condition={
                    "ArnLike": {"aws:SourceArn": "arn:aws:s3:::upload*"},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                },
            )
        ),
    ),
    case(
        "service-from-another-source-arn",
        "implicit_deny",
        principal="s3.amazonaws.com",
        account="",
        keys={"aws:SourceArn": "arn:aws:s3:::elsewhere", "aws:SourceAccount": ACCOUNT},
        resource_policy=document(
            grant({"Service": "s3.amazonaws.com"}, Condition={"ArnLike": {"aws:SourceArn": BUCKET}})
        ),
    ),
    case(
        "service-without-source-account",
        "implicit_deny",
        principal="events.amazonaws.com",
        account="",
        resource_policy=document(
            grant(
                {"Service": "events.amazonaws.com"},
                Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            )
        ),
    ),
    case(
        "another-service",
        "implicit_deny",
        principal="sns.amazonaws.com",
        account="",
        resource_policy=document(grant({"Service": ["s3.amazonaws.com", "events.amazonaws.com"]})),
    ),
    case(
        "service-assumes-execution-role",
        "allowed",
        principal="lambda.amazonaws.com",
        account="",
        action="sts:AssumeRole",
        resource=ROLE,
        resource_kind="trust",
        resource_policy=document(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    ),
    # A public function URL (AuthType NONE): the two statements Lambda writes.
    case(
        "public-url-invoke-function-url",
        "allowed",
        principal="*",
        account="",
        action="lambda:InvokeFunctionUrl",
        keys={"lambda:FunctionUrlAuthType": "NONE"},
        resource_policy=PUBLIC_URL,
    ),
    case(
        "public-url-invoke-function-via-url",
        "allowed",
        principal="*",
        account="",
        keys={"lambda:InvokedViaFunctionUrl": "true"},
        resource_policy=PUBLIC_URL,
    ),
    case(
        "public-url-does-not-open-invoke-api",
        "implicit_deny",
        principal="*",
        account="",
        resource_policy=PUBLIC_URL,
    ),
    case(
        "public-url-statement-on-an-iam-url",
        "implicit_deny",
        principal="*",
        account="",
        action="lambda:InvokeFunctionUrl",
        keys={"lambda:FunctionUrlAuthType": "AWS_IAM"},
        resource_policy=PUBLIC_URL,
    ),
    # Role trust policies must allow even within the account.
    case(
        "trust-names-the-user",
        "allowed",
        action="sts:AssumeRole",
        resource=ROLE,
        resource_kind="trust",
        resource_policy=document(
            {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}
        ),
    ),
    case(
        "trust-names-the-account-without-identity",
        "implicit_deny",
        action="sts:AssumeRole",
        resource=ROLE,
        resource_kind="trust",
        resource_policy=document(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ),
    ),
    case(
        "trust-names-the-account-with-identity",
        "allowed",
        action="sts:AssumeRole",
        resource=ROLE,
        resource_kind="trust",
        identity=[document(allow("sts:AssumeRole", ROLE))],
        resource_policy=document(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ),
    ),
    case(
        "identity-cannot-assume-an-untrusting-role",
        "implicit_deny",
        action="sts:AssumeRole",
        resource=ROLE,
        resource_kind="trust",
        identity=[document(allow("*"))],
        resource_policy=document(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    ),
    # NotPrincipal with Deny exempts a principal listed together with its account.
    case(
        "not-principal-exempts-listed-user",
        "allowed",
        identity=[document(allow())],
        resource_policy=NOT_PRINCIPAL_DENY,
    ),
    case(
        "not-principal-denies-everyone-else",
        "explicit_deny",
        principal=BOB,
        identity=[document(allow())],
        resource_policy=NOT_PRINCIPAL_DENY,
    ),
]


@pytest.mark.parametrize("c", EVALUATION)
def test_it_decides_as_aws_documents(c: Case):
    decision = decide(c)

    assert decision.reason == c.expect, decision.detail
    assert decision.allowed == (c.expect == "allowed")


ACTIONS_AND_RESOURCES = [
    case("action-case-insensitive", "allowed", action="Lambda:invokefunction", identity=[document(allow("LAMBDA:InvokeFunction"))]),
    case("action-star-wildcard", "allowed", action="lambda:GetFunctionConfiguration", identity=[document(allow("lambda:Get*"))]),
    case("action-star-wildcard-miss", "implicit_deny", action="lambda:ListFunctions", identity=[document(allow("lambda:Get*"))]),
    case("action-question-mark", "allowed", action="sqs:ReceiveMessage", resource=QUEUE, identity=[document(allow("sqs:?eceiveMessage"))]),
    case("action-star-mid-name", "allowed", action="lambda:GetFunctionUrlConfig", identity=[document(allow("lambda:*Url*"))]),
    case("action-other-service", "implicit_deny", action="sqs:GetQueueUrl", resource=QUEUE, identity=[document(allow("lambda:*"))]),
    case("action-everything", "allowed", action="kinesis:PutRecord", resource="*", identity=[document(allow("*"))]),
    case("action-list", "allowed", action="sqs:SendMessage", resource=QUEUE, identity=[document(allow(["sns:Publish", "sqs:SendMessage"]))]),
    case("resource-exact", "allowed", identity=[document(allow(resource=FUNCTION))]),
    case("resource-is-case-sensitive", "implicit_deny", identity=[document(allow(resource=FUNCTION.replace("my-fn", "My-Fn")))]),
    case("resource-wildcards", "allowed", resource=FUNCTION.replace("us-east-1", "eu-west-1"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:my-*"))]),
    case("resource-wildcard-other-account", "implicit_deny", resource=OTHER_FUNCTION,
         identity=[document(allow(resource="arn:aws:lambda:*:123456789012:function:*"))]),
    case("resource-wildcard-other-name", "implicit_deny", resource=FUNCTION.replace("my-fn", "your-fn"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:my-*"))]),
    case("resource-trailing-star-crosses-colons", "allowed", resource=f"{FUNCTION}:PROD",
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:my-*"))]),
    case("resource-unqualified-arn-does-not-cover-versions", "implicit_deny", resource=f"{FUNCTION}:7",
         identity=[document(allow(resource=FUNCTION))]),
    case("resource-inner-star-stays-in-its-segment", "implicit_deny", resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app:live-prod",
         identity=[document(allow(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*-prod"))]),
    case("resource-question-mark", "allowed", resource=f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs1", action="sqs:SendMessage",
         identity=[document(allow("sqs:*", f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs?"))]),
    case("resource-star-covers-paths", "allowed", resource=f"{BUCKET}/a/b/c.txt", action="s3:GetObject",
         identity=[document(allow("s3:GetObject", f"{BUCKET}/*"))]),
    case("resource-star-does-not-cover-the-action-without-resource", "implicit_deny", action="lambda:ListFunctions", resource="*",
         identity=[document(allow("lambda:*", f"arn:aws:lambda:*:{ACCOUNT}:function:*"))]),
    # Policy variables ("IAM policy elements: Variables and tags").
    case("variable-in-resource", "allowed", resource=FUNCTION.replace("my-fn", "alice-tools"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}-*"))]),
    case("variable-in-resource-other-user", "implicit_deny", resource=FUNCTION.replace("my-fn", "bob-tools"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}-*"))]),
    case("variable-without-value-names-nothing", "implicit_deny", principal=SESSION, resource=FUNCTION.replace("my-fn", "-tools"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}-*"))]),
    case("variable-default-value", "allowed", principal=SESSION, resource=FUNCTION.replace("my-fn", "shared-tools"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username, 'shared'}}-*"))]),
    case("variable-in-condition", "allowed", identity=[document(allow(
         Condition={"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}))]),
    case("variable-in-condition-cross-account", "implicit_deny", resource=OTHER_FUNCTION,
         resource_policy=document(grant({"AWS": ALICE}, resource=OTHER_FUNCTION)),
         identity=[document(allow(Condition={"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}))]),
    case("variable-value-is-literal", "implicit_deny", principal=f"arn:aws:iam::{ACCOUNT}:user/a*",
         resource=FUNCTION.replace("my-fn", "ab"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}"))]),
    case("variable-special-star-is-literal", "implicit_deny", keys={"app:name": "ab"},
         identity=[document(allow(Condition={"StringLike": {"app:name": "a${*}"}}))]),
    case("variables-are-text-in-2008-policies", "implicit_deny", resource=FUNCTION.replace("my-fn", "alice"),
         identity=[document(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}"), version="2008-10-17")]),
]  # fmt: skip


@pytest.mark.parametrize("c", ACTIONS_AND_RESOURCES)
def test_it_matches_actions_resources_and_variables(c: Case):
    assert decide(c).reason == c.expect


NOW = "2026-03-01T12:00:00Z"
TAGS = ["CreatedBy", "CreatedAt"]
CONDITIONS = [
    # Strings.
    ("string-equals", {"StringEquals": {"aws:SourceAccount": ACCOUNT}}, {"aws:SourceAccount": ACCOUNT}, True),
    ("string-equals-differs", {"StringEquals": {"aws:SourceAccount": ACCOUNT}}, {"aws:SourceAccount": OTHER}, False),
    ("string-equals-is-case-sensitive", {"StringEquals": {"app:env": "Prod"}}, {"app:env": "prod"}, False),
    ("string-equals-missing-key", {"StringEquals": {"aws:SourceAccount": ACCOUNT}}, {}, False),
    ("string-equals-values-or", {"StringEquals": {"app:env": ["dev", "prod"]}}, {"app:env": "prod"}, True),
    ("string-equals-has-no-wildcards", {"StringEquals": {"app:env": "p*"}}, {"app:env": "prod"}, False),
    ("keys-are-case-insensitive", {"StringEquals": {"AWS:SOURCEACCOUNT": ACCOUNT}}, {"aws:sourceAccount": ACCOUNT}, True),
    ("string-not-equals", {"StringNotEquals": {"app:env": "prod"}}, {"app:env": "dev"}, True),
    ("string-not-equals-same", {"StringNotEquals": {"app:env": "prod"}}, {"app:env": "prod"}, False),
    ("string-not-equals-values-nor", {"StringNotEquals": {"app:env": ["dev", "prod"]}}, {"app:env": "dev"}, False),
    ("string-not-equals-missing-key", {"StringNotEquals": {"app:env": "prod"}}, {}, True),
    ("string-equals-ignore-case", {"StringEqualsIgnoreCase": {"app:env": "PROD"}}, {"app:env": "prod"}, True),
    ("string-not-equals-ignore-case", {"StringNotEqualsIgnoreCase": {"app:env": "PROD"}}, {"app:env": "prod"}, False),
    ("string-like-star", {"StringLike": {"s3:prefix": "home/alice/*"}}, {"s3:prefix": "home/alice/a/b"}, True),
    ("string-like-question-mark", {"StringLike": {"app:env": "pro?"}}, {"app:env": "prod"}, True),
    ("string-like-miss", {"StringLike": {"s3:prefix": "home/alice/*"}}, {"s3:prefix": "home/bob/"}, False),
    ("string-not-like", {"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "tmp/x"}, True),
    ("string-not-like-missing-key", {"StringNotLike": {"s3:prefix": "home/*"}}, {}, True),
    ("if-exists-missing-key", {"StringEqualsIfExists": {"app:env": "prod"}}, {}, True),
    ("if-exists-present-key", {"StringEqualsIfExists": {"app:env": "prod"}}, {"app:env": "dev"}, False),
    ("negated-if-exists-missing-key", {"StringNotEqualsIfExists": {"app:env": "prod"}}, {}, True),
    ("keys-and-together", {"StringEquals": {"app:env": "prod", "app:team": "core"}}, {"app:env": "prod", "app:team": "web"}, False),
    ("operators-and-together", {"StringEquals": {"app:env": "prod"}, "Bool": {"aws:SecureTransport": "true"}},
     {"app:env": "prod", "aws:SecureTransport": "true"}, True),
    # Numbers.
    ("numeric-equals", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ("numeric-not-equals", {"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ("numeric-less-than", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "9.5"}, True),
    ("numeric-less-than-equal-edge", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ("numeric-less-than-equals", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ("numeric-greater-than", {"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ("numeric-greater-than-equals", {"NumericGreaterThanEquals": {"s3:max-keys": 10}}, {"s3:max-keys": "10"}, True),
    ("numeric-not-a-number", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, False),
    ("numeric-if-exists-missing", {"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True),
    # Dates: ISO 8601 or epoch seconds on either side.
    ("date-greater-than", {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}, {"aws:CurrentTime": NOW}, True),
    ("date-less-than", {"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}, {"aws:CurrentTime": NOW}, False),
    ("date-epoch-policy-value", {"DateLessThan": {"aws:CurrentTime": "1893456000"}}, {"aws:CurrentTime": NOW}, True),
    ("date-epoch-request-value", {"DateGreaterThan": {"aws:EpochTime": "2026-01-01"}}, {"aws:EpochTime": "1772366400"}, True),
    ("date-equals", {"DateEquals": {"aws:CurrentTime": "2026-03-01T13:00:00+01:00"}}, {"aws:CurrentTime": NOW}, True),
    ("date-not-equals", {"DateNotEquals": {"aws:CurrentTime": "2026-03-01"}}, {"aws:CurrentTime": NOW}, True),
    ("date-less-than-equals", {"DateLessThanEquals": {"aws:CurrentTime": NOW}}, {"aws:CurrentTime": NOW}, True),
    ("date-greater-than-equals", {"DateGreaterThanEquals": {"aws:CurrentTime": "2027-01-01"}}, {"aws:CurrentTime": NOW}, False),
    ("date-missing-key", {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}}, {}, False),
    # Booleans.
    ("bool-true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
    ("bool-false", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
    ("bool-json-literal", {"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": True}, True),
    ("bool-missing-key", {"Bool": {"aws:SecureTransport": "false"}}, {}, False),
    ("bool-if-exists-missing-key", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {}, True),
    # IP addresses, v4 and v6.
    ("ip-in-cidr", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ("ip-outside-cidr", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.7"}, False),
    ("ip-single-address", {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ("ip-v6", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8:1::5"}, True),
    ("ip-v4-against-v6-network", {"IpAddress": {"aws:SourceIp": "::/0"}}, {"aws:SourceIp": "203.0.113.7"}, False),
    ("not-ip-address", {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ("not-ip-address-inside", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, False),
    ("not-ip-address-missing-key", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, True),
    # ARNs: each of the six components matched on its own.
    ("arn-equals", {"ArnEquals": {"aws:SourceArn": QUEUE}}, {"aws:SourceArn": QUEUE}, True),
    ("arn-like-wildcard-region", {"ArnLike": {"aws:SourceArn": f"arn:aws:sqs:*:{ACCOUNT}:jobs"}}, {"aws:SourceArn": QUEUE}, True),
    ("arn-like-wildcard-resource", {"ArnLike": {"aws:SourceArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:*"}}, {"aws:SourceArn": QUEUE}, True),
    ("arn-like-too-few-components", {"ArnLike": {"aws:SourceArn": "arn:aws:*"}}, {"aws:SourceArn": QUEUE}, False),
    ("arn-like-not-an-arn", {"ArnLike": {"aws:SourceArn": "arn:*:*:*:*:*"}}, {"aws:SourceArn": "jobs"}, False),
    ("arn-not-equals", {"ArnNotEquals": {"aws:SourceArn": QUEUE}}, {"aws:SourceArn": BUCKET}, True),
    ("arn-not-like-missing-key", {"ArnNotLike": {"aws:SourceArn": QUEUE}}, {}, True),
    ("arn-like-if-exists-missing", {"ArnLikeIfExists": {"aws:SourceArn": QUEUE}}, {}, True),
    # Null tests presence.
    ("null-true-missing-key", {"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    ("null-true-present-key", {"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": NOW}, False),
    ("null-false-present-key", {"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": NOW}, True),
    # Set operators on multivalued keys ("Single-valued vs. multivalued context keys").
    ("for-any-value-one-matches", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["CreatedBy"]}}, {"aws:TagKeys": TAGS}, True),
    ("for-any-value-none-match", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner"]}}, {"aws:TagKeys": TAGS}, False),
    ("for-any-value-missing-key", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner"]}}, {}, False),
    ("for-all-values-all-match", {"ForAllValues:StringLike": {"aws:TagKeys": "Created*"}}, {"aws:TagKeys": TAGS}, True),
    ("for-all-values-one-misses", {"ForAllValues:StringEquals": {"aws:TagKeys": ["CreatedBy"]}}, {"aws:TagKeys": TAGS}, False),
    ("for-all-values-missing-key", {"ForAllValues:StringEquals": {"aws:TagKeys": ["CreatedBy"]}}, {}, True),
    ("for-all-values-not-like-match", {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}, {"aws:TagKeys": ["key2:audit"]}, True),
    ("for-all-values-not-like-miss", {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}, {"aws:TagKeys": ["key1:legal"]}, False),
    ("for-all-values-not-like-missing", {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}, {}, True),
    ("for-any-value-not-equals", {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "CreatedBy"}}, {"aws:TagKeys": TAGS}, True),
    ("multivalued-key-without-qualifier", {"StringEquals": {"aws:TagKeys": "CreatedAt"}}, {"aws:TagKeys": TAGS}, True),
]  # fmt: skip


@pytest.mark.parametrize(("condition", "keys", "holds"), [pytest.param(*c[1:], id=c[0]) for c in CONDITIONS])
def test_it_evaluates_condition_operators(condition: dict, keys: dict, holds: bool):
    policy = policy_parse(document(allow(Condition=condition)))
    context = RequestContext(ALICE, ACCOUNT, "lambda:InvokeFunction", FUNCTION, condition_keys=keys)

    assert evaluate(context, identity_policies=[policy]).allowed is holds


def statement_with(**elements: Any) -> dict:
    return document({"Effect": "Allow", "Action": "lambda:*", "Resource": "*", **elements})


REFUSALS = [
    ("principal-in-identity-policy", statement_with(Principal={"AWS": ALICE}), "identity", "Policy document should not specify a principal."),
    ("not-principal-in-identity-policy", statement_with(NotPrincipal="*"), "identity", "Policy document should not specify a principal."),
    ("missing-effect", document({"Action": "lambda:*", "Resource": "*"}), "identity", "Syntax errors in policy."),
    ("unknown-effect", statement_with(Effect="Permit"), "identity", "Syntax errors in policy."),
    ("lower-case-effect", statement_with(Effect="allow"), "identity", "The policy failed legacy parsing"),
    ("action-and-not-action", statement_with(NotAction="iam:*"), "identity", "Syntax errors in policy."),
    ("resource-and-not-resource", statement_with(NotResource="*"), "identity", "Syntax errors in policy."),
    ("principal-and-not-principal", document(grant("*", NotPrincipal="*")), "resource", "Syntax errors in policy."),
    ("no-action", document({"Effect": "Allow", "Resource": "*"}), "identity", "Policy statement must contain actions."),
    ("empty-action-list", statement_with(Action=[]), "identity", "Policy statement must contain actions."),
    ("identity-without-resource", document({"Effect": "Allow", "Action": "lambda:*"}), "identity",
     "Policy statement must contain resources."),
    ("resource-policy-without-principal", statement_with(), "resource", "Missing required field Principal"),
    ("trust-policy-with-resource", document(grant({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")), "trust",
     "Has prohibited field Resource"),
    ("bad-version", document(allow(), version="2012-10-18"), "identity", "Syntax errors in policy."),
    ("unknown-top-element", {**statement_with(), "Statements": []}, "identity", "Syntax errors in policy."),
    ("unknown-statement-element", statement_with(Actions="lambda:*"), "identity", "Syntax errors in policy."),
    ("no-statement", {"Version": "2012-10-17"}, "identity", "Syntax errors in policy."),
    ("empty-statement-list", {"Version": "2012-10-17", "Statement": []}, "identity", "Syntax errors in policy."),
    ("not-json", '{"Version": "2012-10-17", "Statement": [', "identity", "Syntax errors in policy."),
    ("action-not-a-string", statement_with(Action=["lambda:*", 7]), "identity", "Syntax errors in policy."),
    ("duplicate-sids", document(allow(Sid="A"), allow(Sid="A")), "identity",
     "Statement IDs (SID) in a single policy must be unique."),
    ("action-without-vendor", statement_with(Action="InvokeFunction"), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("action-with-two-colons", statement_with(Action="lambda:Invoke:Function"), "identity",
     "Actions/Condition can contain only one colon."),
    ("resource-not-an-arn", statement_with(Resource="uploads"), "identity", 'Resource uploads must be in ARN format or "*".'),
    ("unknown-operator", statement_with(Condition={"StringEqualz": {"app:env": "prod"}}), "identity", "Syntax errors in policy."),
    ("unknown-set-operator", statement_with(Condition={"ForSomeValues:StringEquals": {"a:b": "c"}}), "identity",
     "Syntax errors in policy."),
    ("null-if-exists", statement_with(Condition={"NullIfExists": {"app:env": "true"}}), "identity", "Syntax errors in policy."),
    ("condition-not-a-block", statement_with(Condition={"StringEquals": "app:env"}), "identity", "Syntax errors in policy."),
    ("bad-date", statement_with(Condition={"DateLessThan": {"aws:CurrentTime": "next tuesday"}}), "identity",
     "The policy failed legacy parsing"),
    ("invalid-aws-principal", document(grant({"AWS": "alice"})), "resource", 'Invalid principal in policy: "AWS":"alice"'),
    ("unknown-principal-type", document(grant({"Users": ALICE})), "resource", "Syntax errors in policy."),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "kind", "message"), [pytest.param(*r[1:], id=r[0]) for r in REFUSALS])
def test_it_refuses_malformed_policies_in_aws_words(policy: Any, kind: str, message: str):
    with pytest.raises(MalformedPolicyDocument) as refused:
        policy_parse(policy, kind=kind)

    assert refused.value.message == message


ACCEPTED = [
    ("version-absent", {"Statement": allow()}, "identity"),
    ("version-2008", document(allow(), version="2008-10-17"), "identity"),
    ("statement-as-object", {"Version": "2012-10-17", "Statement": allow()}, "identity"),
    ("json-text", '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}', "identity"),
    ("resource-policy-without-resource", document({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}), "resource"),
    ("trust-policy", document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}), "trust"),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "kind"), [pytest.param(*a[1:], id=a[0]) for a in ACCEPTED])
def test_it_accepts_aws_grammar(policy: Any, kind: str):
    assert policy_parse(policy, kind=kind).statements


def test_it_names_the_deciding_statement():
    identity = policy_parse(
        document(allow("lambda:*", Sid="LambdaAll")), label="arn:aws:iam::123456789012:policy/dev"
    )
    guard = policy_parse(document(allow(), deny("lambda:DeleteFunction", Sid="NoDeletes")), label="guard")
    context = RequestContext(ALICE, ACCOUNT, "lambda:DeleteFunction", FUNCTION)

    allowed = evaluate(
        RequestContext(ALICE, ACCOUNT, "lambda:GetFunction", FUNCTION), identity_policies=[identity, guard]
    )
    denied = evaluate(context, identity_policies=[identity, guard])

    assert (allowed.statement.policy, allowed.statement.sid) == (
        "arn:aws:iam::123456789012:policy/dev",
        "LambdaAll",
    )
    assert (denied.reason, denied.statement.policy, denied.statement.sid, denied.statement.index) == (
        "explicit_deny",
        "guard",
        "NoDeletes",
        1,
    )


def test_it_names_both_sides_of_a_cross_account_allow():
    identity = policy_parse(document(allow(Sid="Mine")), label="mine")
    resource = policy_parse(
        document(grant({"AWS": ACCOUNT}, resource=OTHER_FUNCTION, Sid="Theirs")),
        kind="resource",
        label="theirs",
    )

    decision = evaluate(
        RequestContext(ALICE, ACCOUNT, "lambda:InvokeFunction", OTHER_FUNCTION),
        identity_policies=[identity],
        resource_policy=resource,
    )

    assert [(ref.policy, ref.sid) for ref in decision.statements] == [("mine", "Mine"), ("theirs", "Theirs")]


@pytest.mark.parametrize("arn", sorted(MANAGED_POLICIES))
def test_it_parses_every_managed_policy(arn: str):
    entry = managed_policy(arn)

    policy = policy_parse(entry["Document"], label=arn)

    assert arn == f"arn:aws:iam::aws:policy{entry['Path']}{entry['PolicyName']}"
    assert policy.statements and entry["Description"]


MANAGED_DECISIONS = [
    ("AdministratorAccess", "iam:CreateUser", "*", True),
    ("service-role/AWSLambdaBasicExecutionRole", "logs:PutLogEvents", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f:*", True),
    ("service-role/AWSLambdaBasicExecutionRole", "sqs:ReceiveMessage", QUEUE, False),
    ("service-role/AWSLambdaSQSQueueExecutionRole", "sqs:ReceiveMessage", QUEUE, True),
    ("service-role/AWSLambdaKinesisExecutionRole", "kinesis:GetRecords", f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s", True),
    ("service-role/AWSLambdaRole", "lambda:InvokeFunction", FUNCTION, True),
    ("ReadOnlyAccess", "lambda:GetFunction", FUNCTION, True),
    ("ReadOnlyAccess", "lambda:CreateFunction", FUNCTION, False),
    ("AWSLambda_ReadOnlyAccess", "lambda:ListFunctions", "*", True),
    ("AWSLambda_ReadOnlyAccess", "lambda:UpdateFunctionCode", FUNCTION, False),
    ("AWSLambda_FullAccess", "lambda:DeleteFunction", FUNCTION, True),
    ("AWSLambda_FullAccess", "logs:GetLogEvents", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/my-fn", True),
    ("AWSLambda_FullAccess", "logs:GetLogEvents", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/other", False),
    ("AmazonSQSFullAccess", "sqs:DeleteQueue", QUEUE, True),
    ("AmazonSNSFullAccess", "sns:Publish", f"arn:aws:sns:us-east-1:{ACCOUNT}:t", True),
    ("CloudWatchReadOnlyAccess", "cloudwatch:GetMetricData", "*", True),
    ("CloudWatchReadOnlyAccess", "cloudwatch:PutMetricData", "*", False),
    ("CloudWatchLogsReadOnlyAccess", "logs:FilterLogEvents", "*", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "action", "resource", "allowed"),
    [pytest.param(*m, id=f"{m[0]}-{m[1]}") for m in MANAGED_DECISIONS],
)
def test_it_grants_what_the_managed_policies_grant(name: str, action: str, resource: str, allowed: bool):
    arn = f"arn:aws:iam::aws:policy/{name}"
    policy = policy_parse(managed_policy(arn)["Document"], label=arn)

    decision = evaluate(RequestContext(ALICE, ACCOUNT, action, resource), identity_policies=[policy])

    assert decision.allowed is allowed


def test_it_derives_global_keys_from_the_principal():
    session = RequestContext(SESSION, ACCOUNT, "lambda:GetFunction", FUNCTION)
    user = RequestContext(
        BOB, ACCOUNT, "lambda:GetFunction", OTHER_FUNCTION, condition_keys={"aws:SourceIp": "10.0.0.1"}
    )

    assert session.keys["aws:principalarn"] == (f"arn:aws:iam::{ACCOUNT}:role/deployer",)
    assert "aws:username" not in session.keys
    assert user.keys["aws:username"] == ("bob",)
    assert user.keys["aws:principaltype"] == ("User",)
    assert user.resource_account == OTHER
    assert user.keys["aws:sourceip"] == ("10.0.0.1",)
