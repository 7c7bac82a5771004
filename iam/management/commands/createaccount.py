import json

from django.core.management.base import BaseCommand, CommandError

from iam.errors import IamError
from iam.services import account_create


class Command(BaseCommand):
    help = "Create an AWS account named NAME with a fresh 12-digit id; prints it as one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            account = account_create(name=name)
        except IamError as error:
            raise CommandError(error.message) from None
        self.stdout.write(json.dumps({"AccountId": account.id, "AccountName": account.name}))
