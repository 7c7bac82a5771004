"""Who called: the principal behind a signed request (or a dashboard session), as the
evaluator, the audit log and every service see it. ``awsapi.sigv4`` makes these."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from functions_app.models import AccessKey
from iam.models import StsSession


@dataclass(frozen=True)
class SignedCaller:
    """Who signed a request.

    ``key`` is the credential that signed: an ``AccessKey``, or for temporary credentials the
    ``StsSession`` (also in ``session``), which answers ``access_key_id`` and ``user`` the same
    way. ``user`` is the key's Django user, and anonymous for a role session (which acts as its
    role, not as any user). ``principal_arn`` and ``account_id`` are who AWS would say called.
    """

    access_key_id: str
    region: str
    service: str
    key: AccessKey | StsSession | None  # None: a dashboard session, which signs nothing
    user: AbstractBaseUser | AnonymousUser
    principal_arn: str
    account_id: str
    session: StsSession | None = None
