"""The default account, and every user that already exists made an administrator of it.

Before IAM, every valid access key acted as an administrator; giving each existing user an
IAM identity with AdministratorAccess keeps it so when policies start being enforced.
"""

import secrets
import string

from django.conf import settings
from django.db import migrations

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
_ID_ALPHABET = string.ascii_uppercase + "234567"


def _user_id() -> str:
    return "AIDA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def forwards(apps, schema_editor):
    Account = apps.get_model("iam", "Account")
    IamUser = apps.get_model("iam", "IamUser")
    PolicyAttachment = apps.get_model("iam", "PolicyAttachment")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    account, _ = Account.objects.get_or_create(id=settings.STRATUS_ACCOUNT_ID, defaults={"name": "default"})
    for user in User.objects.filter(iam_user__isnull=True).order_by("pk"):
        iam_user = IamUser.objects.create(
            user=user, account=account, name=user.username, unique_id=_user_id()
        )
        PolicyAttachment.objects.create(user=iam_user, policy_arn=ADMINISTRATOR_ACCESS)


class Migration(migrations.Migration):
    dependencies = [
        ("iam", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
