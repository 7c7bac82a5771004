"""Dashboard permissions answered by IAM: a dashboard user is an IAM user.

The dashboard's pages, ``/api/v1/`` and the live websockets ask Django's ``has_perm`` for
``functions_app.view_function`` (seeing functions) and ``functions_app.change_function``
(changing them). This backend answers from the user's IAM policies with AWS's evaluation:
``lambda:GetFunction`` and ``lambda:UpdateFunctionConfiguration`` on the account's
functions. So a user given ``AWSLambda_ReadOnlyAccess`` can look but not touch, one with
``AWSLambda_FullAccess`` can change functions, and one with no policy sees nothing.
Django's own model permissions (groups in the admin) still count too, and superusers have
every permission.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import BaseBackend

from iam.authorization import identity_policies_cached
from iam.models import IamUser
from iam.policy import RequestContext, evaluate

DASHBOARD_ACTIONS = {
    "functions_app.view_function": "lambda:GetFunction",
    "functions_app.change_function": "lambda:UpdateFunctionConfiguration",
}


class IamPolicyBackend(BaseBackend):
    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        action = DASHBOARD_ACTIONS.get(perm)
        if action is None or not user_obj.is_active or user_obj.is_anonymous:
            return False
        try:
            iam_user = user_obj.iam_user
        except IamUser.DoesNotExist:
            return False
        region, account = settings.STRATUS_REGION, iam_user.account_id
        context = RequestContext(
            principal_arn=iam_user.arn,
            principal_account=account,
            action=action,
            resource=f"arn:aws:lambda:{region}:{account}:function:*",
        )
        return evaluate(context, identity_policies=identity_policies_cached(iam_user)).allowed
