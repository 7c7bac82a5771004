"""Python functions import boto3 without shipping it, as on AWS, and a copy of their own wins."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

SDK_PY = """
import boto3, botocore
from botocore import UNSIGNED
from botocore.config import Config


def handler(event, context):
    # No credentials yet: an unsigned call through AWS_ENDPOINT_URL reaches Stratus's API,
    # which refuses it in AWS's shape.
    client = boto3.client("lambda", config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    try:
        client.list_functions()
        answer = "allowed"
    except botocore.exceptions.ClientError as error:
        answer = error.response["Error"]["Code"] or str(error.response["ResponseMetadata"]["HTTPStatusCode"])
    return {"boto3": boto3.__version__, "file": boto3.__file__, "answer": answer,
            "endpoint": client.meta.endpoint_url}
"""


def test_it_provides_boto3_to_python_functions(lambda_client, create_function):
    import boto3

    create_function("uses-boto3", Code={"ZipFile": make_zip({"lambda_function.py": SDK_PY})}, Timeout=30)
    response = lambda_client.invoke(FunctionName="uses-boto3")
    seen = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, seen
    assert seen["boto3"] == boto3.__version__
    assert seen["file"].startswith("/var/lang/lib/python3.")
    assert seen["endpoint"].startswith("http://127.0.0.1:")
    assert seen["answer"] == "MissingAuthenticationTokenException", seen


def test_it_lets_a_functions_own_boto3_win(lambda_client, create_function):
    code = make_zip(
        {
            "boto3/__init__.py": "__version__ = 'the-functions-own'\n",
            "lambda_function.py": "import boto3\n\ndef handler(event, context):\n    return boto3.__version__\n",
        }
    )
    create_function("own-boto3", Code={"ZipFile": code})
    assert json.loads(lambda_client.invoke(FunctionName="own-boto3")["Payload"].read()) == "the-functions-own"
