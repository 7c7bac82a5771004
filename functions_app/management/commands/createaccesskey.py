import json

from django.core.management.base import BaseCommand, CommandError

from iam.errors import IamError
from iam.services import administrator_key_create


class Command(BaseCommand):
    help = (
        "Issue a SigV4 access key for USERNAME (created if needed, as an administrator of the "
        "account: the default one unless --account names another); prints it as one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--account", dest="account_id", default=None, help="a 12-digit account id")

    def handle(self, *args, username: str, account_id: str | None = None, **options):
        try:
            key, secret = administrator_key_create(username=username, account_id=account_id)
        except IamError as error:
            raise CommandError(error.message) from None
        self.stdout.write(json.dumps({"AccessKeyId": key.access_key_id, "SecretAccessKey": secret}))
