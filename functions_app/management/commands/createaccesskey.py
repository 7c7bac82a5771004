import json

from django.core.management.base import BaseCommand

from functions_app.services.access_keys import access_key_create_for_username


class Command(BaseCommand):
    help = "Issue a SigV4 access key for USERNAME (created if needed); prints it as one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        key, secret = access_key_create_for_username(username=username)
        self.stdout.write(json.dumps({"AccessKeyId": key.access_key_id, "SecretAccessKey": secret}))
