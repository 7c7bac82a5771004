"""CreateFunction, GetFunction, ListFunctions, updates and deletion through boto3."""

from __future__ import annotations

import base64
import hashlib

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_creates_a_function_and_reports_it_as_botocore_expects(
    lambda_client, create_function, hello_zip, python_runtime
):
    created = create_function("hello", Description="says hello", MemorySize=256, Timeout=10)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == "hello"
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert created["Runtime"] == python_runtime
    assert created["MemorySize"] == 256 and created["Timeout"] == 10
    assert created["Version"] == "$LATEST"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(hello_zip).digest()).decode()
    assert created["CodeSize"] == len(hello_zip)
    assert created["State"] == "Active"
    assert created["EphemeralStorage"] == {"Size": 512}

    fetched = lambda_client.get_function(FunctionName="hello")
    assert fetched["Configuration"]["RevisionId"] == created["RevisionId"]
    assert fetched["Code"]["RepositoryType"] == "S3"


def test_it_answers_unknown_functions_with_resource_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as raised:
        lambda_client.get_function(FunctionName="nope")
    assert "Function not found" in str(raised.value)
