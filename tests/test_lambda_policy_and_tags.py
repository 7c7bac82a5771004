"""A function's resource-based policy (AddPermission, GetPolicy, RemovePermission) and its tags, via boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.django_db(transaction=True)

ARN = "arn:aws:lambda:us-east-1:000000000000:function:guarded"
BUCKET = "arn:aws:s3:::uploads"


@pytest.fixture
def function(create_function):
    create_function("guarded")
    return "guarded"


def test_it_adds_a_service_permission_and_returns_the_statement(lambda_client, function):
    added = lambda_client.add_permission(
        FunctionName=function,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=BUCKET,
        SourceAccount="123456789012",
    )

    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3-invoke",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": ARN,
        "Condition": {
            "ArnLike": {"AWS:SourceArn": BUCKET},
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
        },
    }


def test_it_turns_an_account_id_principal_into_the_accounts_root(lambda_client, function):
    added = lambda_client.add_permission(
        FunctionName=function,
        StatementId="cross-account",
        Action="lambda:GetFunction",
        Principal="111122223333",
    )

    statement = json.loads(added["Statement"])
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Action"] == "lambda:GetFunction"
    assert "Condition" not in statement


def test_it_keeps_arn_and_wildcard_principals(lambda_client, function):
    role = "arn:aws:iam::111122223333:role/caller"
    by_arn = lambda_client.add_permission(
        FunctionName=function, StatementId="by-arn", Action="lambda:*", Principal=role
    )
    anyone = lambda_client.add_permission(
        FunctionName=function, StatementId="anyone", Action="lambda:InvokeFunction", Principal="*"
    )

    assert json.loads(by_arn["Statement"])["Principal"] == {"AWS": role}
    assert json.loads(anyone["Statement"])["Principal"] == "*"


def test_it_returns_the_whole_policy_with_a_revision_id(lambda_client, function):
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="first",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="second",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn="arn:aws:events:us-east-1:000000000000:rule/nightly",
    )

    got = lambda_client.get_policy(FunctionName=function)

    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17"
    assert policy["Id"] == "default"
    assert [statement["Sid"] for statement in policy["Statement"]] == ["first", "second"]
    assert policy["Statement"][0]["Principal"] == {"Service": "sns.amazonaws.com"}
    assert policy["Statement"][1]["Condition"] == {
        "ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:000000000000:rule/nightly"}
    }
    assert all(statement["Resource"] == ARN for statement in policy["Statement"])
    assert got["RevisionId"]


def test_it_changes_the_policy_revision_id_on_every_change(lambda_client, function):
    lambda_client.add_permission(
        FunctionName=function, StatementId="one", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )
    first = lambda_client.get_policy(FunctionName=function)["RevisionId"]
    lambda_client.add_permission(
        FunctionName=function, StatementId="two", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )
    second = lambda_client.get_policy(FunctionName=function)["RevisionId"]
    lambda_client.remove_permission(FunctionName=function, StatementId="one")
    third = lambda_client.get_policy(FunctionName=function)["RevisionId"]

    assert len({first, second, third}) == 3


def test_it_answers_get_policy_without_statements_with_resource_not_found(lambda_client, function):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=function)

    lambda_client.add_permission(
        FunctionName=function,
        StatementId="only",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    lambda_client.remove_permission(FunctionName=function, StatementId="only")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=function)


def test_it_refuses_a_duplicate_statement_id(lambda_client, function):
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="same",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )

    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as raised:
        lambda_client.add_permission(
            FunctionName=function,
            StatementId="same",
            Action="lambda:GetFunction",
            Principal="sns.amazonaws.com",
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "already exists" in str(raised.value)
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    assert len(policy["Statement"]) == 1
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}


def test_it_removes_a_permission(lambda_client, function):
    for sid in ("keep", "drop"):
        lambda_client.add_permission(
            FunctionName=function,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )

    removed = lambda_client.remove_permission(FunctionName=function, StatementId="drop")

    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["keep"]


def test_it_answers_removing_an_unknown_statement_with_resource_not_found(lambda_client, function):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.remove_permission(FunctionName=function, StatementId="never-added")


def test_it_checks_the_revision_id_before_changing_the_policy(lambda_client, function):
    lambda_client.add_permission(
        FunctionName=function, StatementId="a", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )
    stale = lambda_client.get_policy(FunctionName=function)["RevisionId"]
    lambda_client.add_permission(
        FunctionName=function, StatementId="b", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.remove_permission(FunctionName=function, StatementId="a", RevisionId=stale)
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.add_permission(
            FunctionName=function,
            StatementId="c",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            RevisionId=stale,
        )
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["a", "b"]

    current = lambda_client.get_policy(FunctionName=function)["RevisionId"]
    lambda_client.remove_permission(FunctionName=function, StatementId="a", RevisionId=current)
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["b"]


def test_it_keeps_a_separate_policy_per_qualifier(lambda_client, function):
    lambda_client.publish_version(FunctionName=function)
    lambda_client.create_alias(FunctionName=function, Name="prod", FunctionVersion="1")

    added = lambda_client.add_permission(
        FunctionName=function,
        Qualifier="prod",
        StatementId="prod-only",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )

    assert json.loads(added["Statement"])["Resource"] == f"{ARN}:prod"
    aliased = json.loads(lambda_client.get_policy(FunctionName=function, Qualifier="prod")["Policy"])
    assert [statement["Sid"] for statement in aliased["Statement"]] == ["prod-only"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=function)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=function, Qualifier="1")

    # The same statement id may be used again on the unqualified function.
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="prod-only",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.remove_permission(FunctionName=function, Qualifier="1", StatementId="prod-only")
    lambda_client.remove_permission(FunctionName=function, Qualifier="prod", StatementId="prod-only")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=function, Qualifier="prod")
    assert json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])["Statement"][0]["Sid"] == (
        "prod-only"
    )


def test_it_answers_a_permission_on_an_unknown_qualifier_or_function_with_resource_not_found(
    lambda_client, function
):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.add_permission(
            FunctionName=function,
            Qualifier="nosuch",
            StatementId="x",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.add_permission(
            FunctionName="ghost",
            StatementId="x",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName="ghost")


@pytest.mark.parametrize(
    "fields",
    [
        {"StatementId": "has spaces", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"},
        {"StatementId": "x" * 101, "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"},
        {"StatementId": "bad-action", "Action": "s3:GetObject", "Principal": "s3.amazonaws.com"},
        {"StatementId": "no-principal", "Action": "lambda:InvokeFunction", "Principal": ""},
        {
            "StatementId": "bad-url-auth",
            "Action": "lambda:InvokeFunctionUrl",
            "Principal": "*",
            "FunctionUrlAuthType": "MAYBE",
        },
    ],
)
def test_it_refuses_malformed_permissions(lambda_client_unvalidated, function, fields):
    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.add_permission(FunctionName=function, **fields)

    assert raised.value.response["Error"]["Code"] in ("InvalidParameterValueException", "ValidationException")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError):
        lambda_client_unvalidated.get_policy(FunctionName=function)


def test_it_refuses_a_policy_larger_than_20_kb(lambda_client, function):
    long_arn = "arn:aws:s3:::" + "b" * 1000
    with pytest.raises(lambda_client.exceptions.PolicyLengthExceededException):
        for number in range(30):
            lambda_client.add_permission(
                FunctionName=function,
                StatementId=f"s{number}",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn=long_arn,
            )
    policy = lambda_client.get_policy(FunctionName=function)["Policy"]
    assert len(policy.encode()) <= 20 * 1024


def test_it_tags_lists_and_untags_a_function_by_arn(lambda_client, function):
    tagged = lambda_client.tag_resource(Resource=ARN, Tags={"team": "core", "env": "dev"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=ARN)["Tags"] == {"team": "core", "env": "dev"}

    lambda_client.tag_resource(Resource=ARN, Tags={"env": "prod", "cost": "42"})
    assert lambda_client.list_tags(Resource=ARN)["Tags"] == {"team": "core", "env": "prod", "cost": "42"}
    assert lambda_client.get_function(FunctionName=function)["Tags"] == {
        "team": "core",
        "env": "prod",
        "cost": "42",
    }

    untagged = lambda_client.untag_resource(Resource=ARN, TagKeys=["team", "cost", "absent"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=ARN)["Tags"] == {"env": "prod"}


def test_it_lists_the_tags_given_at_creation(lambda_client, create_function):
    arn = create_function("born-tagged", Tags={"owner": "ops"})["FunctionArn"]

    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"owner": "ops"}


def test_it_lists_no_tags_for_an_untagged_function(lambda_client, function):
    assert lambda_client.list_tags(Resource=ARN)["Tags"] == {}


def test_it_refuses_tags_on_a_qualified_arn(lambda_client, function):
    lambda_client.publish_version(FunctionName=function)

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.tag_resource(Resource=f"{ARN}:1", Tags={"team": "core"})
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.list_tags(Resource=f"{ARN}:1")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.untag_resource(Resource=f"{ARN}:1", TagKeys=["team"])
    assert lambda_client.list_tags(Resource=ARN)["Tags"] == {}


def test_it_answers_tags_on_an_unknown_function_with_resource_not_found(lambda_client):
    missing = "arn:aws:lambda:us-east-1:000000000000:function:ghost"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.tag_resource(Resource=missing, Tags={"a": "b"})
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.list_tags(Resource=missing)


def test_it_refuses_empty_tag_requests(lambda_client_unvalidated, function):
    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.tag_resource(Resource=ARN, Tags={})
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.untag_resource(Resource=ARN, TagKeys=[])
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
