"""IAM's API (the query protocol of boto3's ``iam`` client and ``aws iam``): users and their keys,
groups, roles and trust policies, managed and inline policies, attachments, the account's
authorization details and policy simulation, with AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _allow(*actions: str, resource: str = "*", effect: str = "Allow") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": list(actions), "Resource": resource}],
        }
    )


@pytest.fixture
def iam(live_server_url, access_key):
    return aws_client("iam", live_server_url, access_key)


def _error_code(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


def test_it_creates_gets_lists_and_deletes_users(iam):
    created = iam.create_user(UserName="alice", Path="/engineering/")["User"]

    assert created["UserName"] == "alice"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/engineering/alice"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert iam.get_user(UserName="alice")["User"]["UserId"] == created["UserId"]
    names = [user["UserName"] for user in iam.list_users()["Users"]]
    assert names == ["alice", "tester"]
    assert [user["UserName"] for user in iam.list_users(PathPrefix="/engineering/")["Users"]] == ["alice"]

    iam.delete_user(UserName="alice")

    with pytest.raises(iam.exceptions.NoSuchEntityException) as raised:
        iam.get_user(UserName="alice")
    assert _error_code(raised.value) == ("NoSuchEntity", 404)
    assert "alice" in raised.value.response["Error"]["Message"]


def test_it_answers_get_user_without_a_name_with_the_caller(iam):
    me = iam.get_user()["User"]

    assert me["UserName"] == "tester"
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/tester"


def test_it_refuses_a_user_that_already_exists(iam):
    iam.create_user(UserName="dup")

    with pytest.raises(iam.exceptions.EntityAlreadyExistsException) as raised:
        iam.create_user(UserName="dup")
    assert _error_code(raised.value) == ("EntityAlreadyExists", 409)


def test_it_issues_keys_that_sign_until_made_inactive_or_deleted(iam, live_server_url):
    iam.create_user(UserName="carol")
    issued = iam.create_access_key(UserName="carol")["AccessKey"]
    key = (issued["AccessKeyId"], issued["SecretAccessKey"])
    sts = aws_client("sts", live_server_url, key)

    assert issued["Status"] == "Active" and issued["AccessKeyId"].startswith("AKIA")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/carol"
    listed = iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(issued["AccessKeyId"], "Active")]

    iam.update_access_key(UserName="carol", AccessKeyId=issued["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as raised:
        sts.get_caller_identity()
    assert _error_code(raised.value) == ("InvalidClientTokenId", 403)
    assert iam.list_access_keys(UserName="carol")["AccessKeyMetadata"][0]["Status"] == "Inactive"

    iam.update_access_key(UserName="carol", AccessKeyId=issued["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"].endswith(":user/carol")

    iam.delete_access_key(UserName="carol", AccessKeyId=issued["AccessKeyId"])
    with pytest.raises(ClientError) as raised:
        sts.get_caller_identity()
    assert _error_code(raised.value) == ("InvalidClientTokenId", 403)
    assert iam.list_access_keys(UserName="carol")["AccessKeyMetadata"] == []


def test_it_limits_a_user_to_two_keys(iam):
    iam.create_user(UserName="dave")
    iam.create_access_key(UserName="dave")
    iam.create_access_key(UserName="dave")

    with pytest.raises(iam.exceptions.LimitExceededException) as raised:
        iam.create_access_key(UserName="dave")
    assert _error_code(raised.value) == ("LimitExceeded", 409)


def test_it_keeps_groups_and_their_members(iam):
    iam.create_user(UserName="erin")
    group = iam.create_group(GroupName="developers")["Group"]
    iam.add_user_to_group(GroupName="developers", UserName="erin")

    assert group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/developers"
    fetched = iam.get_group(GroupName="developers")
    assert [user["UserName"] for user in fetched["Users"]] == ["erin"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="erin")["Groups"]] == ["developers"]
    assert [g["GroupName"] for g in iam.list_groups()["Groups"]] == ["developers"]
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_group(GroupName="developers")

    iam.remove_user_from_group(GroupName="developers", UserName="erin")
    iam.delete_group(GroupName="developers")

    assert iam.list_groups()["Groups"] == []
    assert iam.list_groups_for_user(UserName="erin")["Groups"] == []


def test_it_creates_roles_with_trust_policies(iam):
    created = iam.create_role(
        RoleName="worker",
        AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
        Description="runs functions",
        MaxSessionDuration=7200,
    )["Role"]

    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/worker"
    assert created["RoleId"].startswith("AROA")
    fetched = iam.get_role(RoleName="worker")["Role"]
    assert fetched["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    assert fetched["MaxSessionDuration"] == 7200 and fetched["Description"] == "runs functions"
    assert [role["RoleName"] for role in iam.list_roles()["Roles"]] == ["worker"]

    trust = {**LAMBDA_TRUST, "Statement": [{**LAMBDA_TRUST["Statement"][0], "Principal": {"AWS": ACCOUNT}}]}
    iam.update_assume_role_policy(RoleName="worker", PolicyDocument=json.dumps(trust))
    assert iam.get_role(RoleName="worker")["Role"]["AssumeRolePolicyDocument"] == trust

    iam.delete_role(RoleName="worker")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="worker")


def test_it_refuses_malformed_policy_documents(iam):
    identity_as_trust = _allow("s3:GetObject")  # a trust policy needs a Principal
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException) as raised:
        iam.create_role(RoleName="bad", AssumeRolePolicyDocument=identity_as_trust)
    assert _error_code(raised.value) == ("MalformedPolicyDocument", 400)

    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.create_policy(PolicyName="bad", PolicyDocument="{not json")
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.put_user_policy(UserName="tester", PolicyName="bad", PolicyDocument=json.dumps({"Statement": []}))
    assert iam.list_roles()["Roles"] == [] and iam.list_policies(Scope="Local")["Policies"] == []


def test_it_keeps_versions_of_customer_managed_policies(iam):
    policy = iam.create_policy(PolicyName="queues", Path="/team/", PolicyDocument=_allow("sqs:SendMessage"))[
        "Policy"
    ]
    arn = policy["Arn"]

    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/team/queues"
    assert policy["DefaultVersionId"] == "v1" and policy["AttachmentCount"] == 0
    second = iam.create_policy_version(PolicyArn=arn, PolicyDocument=_allow("sqs:*"), SetAsDefault=True)
    assert second["PolicyVersion"] == {**second["PolicyVersion"], "VersionId": "v2", "IsDefaultVersion": True}
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(_allow("sqs:SendMessage")) and not version["IsDefaultVersion"]
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=_allow("sqs:ReceiveMessage"))
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]

    with pytest.raises(iam.exceptions.LimitExceededException):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=_allow("sqs:ReceiveMessage"))
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")  # the default
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_policy(PolicyArn=arn)  # still has other versions

    for version_id in ("v1", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version_id)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=_allow("sqs:ReceiveMessage"))
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v6", "v2"]
    iam.delete_policy_version(PolicyArn=arn, VersionId="v6")
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=arn)


def test_it_lists_aws_managed_and_local_policies_by_scope(iam):
    iam.create_policy(PolicyName="mine", PolicyDocument=_allow("lambda:InvokeFunction"))

    aws = {policy["Arn"] for policy in iam.list_policies(Scope="AWS")["Policies"]}
    local = [policy["PolicyName"] for policy in iam.list_policies(Scope="Local")["Policies"]]
    everything = {policy["Arn"] for policy in iam.list_policies()["Policies"]}

    assert {ADMIN, READ_ONLY} <= aws and all(arn.startswith("arn:aws:iam::aws:policy/") for arn in aws)
    assert local == ["mine"]
    assert everything == aws | {f"arn:aws:iam::{ACCOUNT}:policy/mine"}
    attached = iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    assert [(p["Arn"], p["AttachmentCount"]) for p in attached] == [(ADMIN, 1)]  # the tester's
    admin = iam.get_policy(PolicyArn=ADMIN)["Policy"]
    assert admin["PolicyName"] == "AdministratorAccess" and admin["DefaultVersionId"] == "v1"
    document = iam.get_policy_version(PolicyArn=ADMIN, VersionId="v1")["PolicyVersion"]["Document"]
    assert document["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    page = iam.list_policies(Scope="AWS", MaxItems=2)
    assert len(page["Policies"]) == 2 and page["IsTruncated"]
    rest = iam.list_policies(Scope="AWS", Marker=page["Marker"])["Policies"]
    assert {p["Arn"] for p in page["Policies"] + rest} == aws


def test_it_attaches_and_detaches_managed_policies(iam):
    iam.create_user(UserName="frank")
    iam.create_group(GroupName="ops")
    iam.create_role(RoleName="runner", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    mine = iam.create_policy(PolicyName="mine", PolicyDocument=_allow("sns:Publish"))["Policy"]["Arn"]

    iam.attach_user_policy(UserName="frank", PolicyArn=READ_ONLY)
    iam.attach_user_policy(UserName="frank", PolicyArn=mine)
    iam.attach_group_policy(GroupName="ops", PolicyArn=mine)
    iam.attach_role_policy(RoleName="runner", PolicyArn=ADMIN)

    attached = iam.list_attached_user_policies(UserName="frank")["AttachedPolicies"]
    assert attached == [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": READ_ONLY},
        {"PolicyName": "mine", "PolicyArn": mine},
    ]
    assert iam.list_attached_group_policies(GroupName="ops")["AttachedPolicies"] == [
        {"PolicyName": "mine", "PolicyArn": mine}
    ]
    assert iam.list_attached_role_policies(RoleName="runner")["AttachedPolicies"][0]["PolicyArn"] == ADMIN
    assert iam.get_policy(PolicyArn=mine)["Policy"]["AttachmentCount"] == 2
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_policy(PolicyArn=mine)
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_role(RoleName="runner")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.attach_user_policy(UserName="frank", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")

    iam.detach_user_policy(UserName="frank", PolicyArn=mine)
    iam.detach_group_policy(GroupName="ops", PolicyArn=mine)
    iam.detach_role_policy(RoleName="runner", PolicyArn=ADMIN)

    assert iam.list_attached_user_policies(UserName="frank")["AttachedPolicies"] == [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": READ_ONLY}
    ]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.detach_role_policy(RoleName="runner", PolicyArn=ADMIN)
    iam.delete_policy(PolicyArn=mine)
    iam.delete_role(RoleName="runner")


def test_it_keeps_inline_policies_of_users_groups_and_roles(iam):
    iam.create_user(UserName="gina")
    iam.create_group(GroupName="readers")
    iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    document = _allow("logs:PutLogEvents")

    iam.put_user_policy(UserName="gina", PolicyName="logs", PolicyDocument=document)
    iam.put_group_policy(GroupName="readers", PolicyName="logs", PolicyDocument=document)
    iam.put_role_policy(RoleName="fn", PolicyName="logs", PolicyDocument=document)
    iam.put_role_policy(RoleName="fn", PolicyName="logs", PolicyDocument=_allow("logs:*"))  # replaces

    fetched = iam.get_user_policy(UserName="gina", PolicyName="logs")
    assert (fetched["UserName"], fetched["PolicyDocument"]) == ("gina", json.loads(document))
    assert iam.get_group_policy(GroupName="readers", PolicyName="logs")["GroupName"] == "readers"
    role_policy = iam.get_role_policy(RoleName="fn", PolicyName="logs")["PolicyDocument"]
    assert role_policy["Statement"][0]["Action"] == ["logs:*"]
    assert iam.list_user_policies(UserName="gina")["PolicyNames"] == ["logs"]
    assert iam.list_group_policies(GroupName="readers")["PolicyNames"] == ["logs"]
    assert iam.list_role_policies(RoleName="fn")["PolicyNames"] == ["logs"]

    iam.delete_user_policy(UserName="gina", PolicyName="logs")
    iam.delete_group_policy(GroupName="readers", PolicyName="logs")
    iam.delete_role_policy(RoleName="fn", PolicyName="logs")

    assert iam.list_user_policies(UserName="gina")["PolicyNames"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role_policy(RoleName="fn", PolicyName="logs")


def test_it_refuses_deleting_a_user_that_still_has_keys_policies_or_groups(iam):
    iam.create_user(UserName="hank")
    key_id = iam.create_access_key(UserName="hank")["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(UserName="hank", PolicyName="p", PolicyDocument=_allow("sqs:*"))
    iam.create_group(GroupName="g")
    iam.add_user_to_group(GroupName="g", UserName="hank")

    for undo in (
        lambda: iam.delete_access_key(UserName="hank", AccessKeyId=key_id),
        lambda: iam.delete_user_policy(UserName="hank", PolicyName="p"),
        lambda: iam.remove_user_from_group(GroupName="g", UserName="hank"),
    ):
        with pytest.raises(iam.exceptions.DeleteConflictException) as raised:
            iam.delete_user(UserName="hank")
        assert _error_code(raised.value) == ("DeleteConflict", 409)
        undo()

    iam.delete_user(UserName="hank")
    assert [user["UserName"] for user in iam.list_users()["Users"]] == ["tester"]


def test_it_describes_the_account_in_authorization_details(iam):
    iam.create_user(UserName="ivy")
    iam.create_group(GroupName="g")
    iam.add_user_to_group(GroupName="g", UserName="ivy")
    iam.put_user_policy(UserName="ivy", PolicyName="inline", PolicyDocument=_allow("sqs:*"))
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    mine = iam.create_policy(PolicyName="mine", PolicyDocument=_allow("sns:*"))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="r", PolicyArn=mine)

    details = iam.get_account_authorization_details()

    users = {user["UserName"]: user for user in details["UserDetailList"]}
    assert set(users) == {"ivy", "tester"}
    assert users["ivy"]["GroupList"] == ["g"]
    assert users["ivy"]["UserPolicyList"] == [
        {"PolicyName": "inline", "PolicyDocument": json.loads(_allow("sqs:*"))}
    ]
    assert users["tester"]["AttachedManagedPolicies"] == [
        {"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}
    ]
    assert [group["GroupName"] for group in details["GroupDetailList"]] == ["g"]
    (role,) = details["RoleDetailList"]
    assert role["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    assert role["AttachedManagedPolicies"] == [{"PolicyName": "mine", "PolicyArn": mine}]
    policies = {policy["Arn"]: policy for policy in details["Policies"]}
    assert set(policies) == {mine, ADMIN}
    assert policies[mine]["PolicyVersionList"][0]["Document"] == json.loads(_allow("sns:*"))
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and len(only_roles["RoleDetailList"]) == 1


def test_it_simulates_a_principals_policies(iam):
    iam.create_user(UserName="jack")
    iam.create_group(GroupName="queue-readers")
    iam.add_user_to_group(GroupName="queue-readers", UserName="jack")
    iam.put_group_policy(GroupName="queue-readers", PolicyName="read", PolicyDocument=_allow("sqs:Receive*"))
    iam.put_user_policy(UserName="jack", PolicyName="lambda", PolicyDocument=_allow("lambda:*"))
    deny = _allow(
        "lambda:DeleteFunction", resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:prod", effect="Deny"
    )
    iam.put_user_policy(UserName="jack", PolicyName="protect-prod", PolicyDocument=deny)

    results = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/jack",
        ActionNames=["sqs:ReceiveMessage", "lambda:DeleteFunction", "sns:Publish"],
        ResourceArns=[
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:prod",
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:dev",
        ],
    )["EvaluationResults"]

    decisions = {
        (r["EvalActionName"], r["EvalResourceName"].rsplit(":", 1)[-1]): r["EvalDecision"] for r in results
    }
    assert decisions == {
        ("sqs:ReceiveMessage", "prod"): "allowed",
        ("sqs:ReceiveMessage", "dev"): "allowed",
        ("lambda:DeleteFunction", "prod"): "explicitDeny",
        ("lambda:DeleteFunction", "dev"): "allowed",
        ("sns:Publish", "prod"): "implicitDeny",
        ("sns:Publish", "dev"): "implicitDeny",
    }
    denied = next(r for r in results if r["EvalDecision"] == "explicitDeny")
    assert denied["MatchedStatements"][0]["SourcePolicyId"] == "protect-prod"
    admin = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/tester", ActionNames=["iam:DeleteUser"]
    )["EvaluationResults"]
    assert [(r["EvalResourceName"], r["EvalDecision"]) for r in admin] == [("*", "allowed")]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/nobody", ActionNames=["s3:*"]
        )


def test_it_refuses_an_unsigned_or_unknown_caller(live_server_url):
    stranger = aws_client("iam", live_server_url, ("AKIANOSUCHKEY0000000", "secret"))

    with pytest.raises(ClientError) as raised:
        stranger.list_users()
    assert _error_code(raised.value) == ("InvalidClientTokenId", 403)


def test_it_creates_a_user_with_the_aws_cli(aws_cli, iam):
    created = json.loads(aws_cli("iam", "create-user", "--user-name", "from-cli").stdout)

    assert created["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/from-cli"
    assert iam.get_user(UserName="from-cli")["User"]["UserId"] == created["User"]["UserId"]
