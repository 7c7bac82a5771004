"""A dashboard user is an IAM user: their policies decide what the dashboard shows them and
lets them change, with the same evaluation as the APIs."""

from __future__ import annotations

import pytest
from django.test import Client

from functions_app.models import Function
from iam import services
from tests.conftest import function_made

pytestmark = [pytest.mark.django_db(transaction=True)]


def _iam_user(name: str, *policy_arns: str):
    iam_user = services.user_create(account=services.account_default(), name=name)
    for arn in policy_arns:
        services.policy_attach(principal=iam_user, policy_arn=arn)
    client = Client()
    client.force_login(iam_user.user)
    return iam_user.user, client


def test_it_shows_nothing_to_a_user_with_no_policy():
    function_made("hello")
    user, client = _iam_user("nobody")
    assert not user.has_perm("functions_app.view_function")
    assert client.get("/functions/").status_code == 403
    assert client.get("/functions/hello/").status_code == 403


def test_it_lets_a_read_only_user_look_but_not_change():
    function_made("hello")
    _, client = _iam_user("looker", "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    assert client.get("/functions/").status_code == 200
    assert client.get("/functions/hello/?tab=configuration").status_code == 200
    response = client.post("/functions/hello/triggers", {"action": "url-create", "auth_type": "NONE"})
    assert response.status_code == 403
    assert not Function.objects.get(name="hello").url_configs.exists()


def test_it_lets_a_full_access_user_change_functions():
    function_made("hello")
    _, client = _iam_user("builder", "arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    response = client.post("/functions/hello/triggers", {"action": "url-create", "auth_type": "AWS_IAM"})
    assert response.status_code == 302
    assert Function.objects.get(name="hello").url_configs.get().auth_type == "AWS_IAM"
