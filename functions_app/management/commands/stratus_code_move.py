"""``manage.py stratus_code_move --from filesystem``: copy every code artifact from one storage
to another (the database, S3, or the data dir), checking each against its hash. Then set
``STRATUS_CODE_STORAGE`` to the target on every host."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from functions_app.models import CodeArtifact
from functions_app.services.artifacts import artifacts_copy, storage_open


class Command(BaseCommand):
    help = "Copy every code artifact between storages (database, filesystem, s3://BUCKET[/PREFIX])."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", required=True, help="where the artifacts are now")
        parser.add_argument(
            "--to",
            dest="target",
            default=settings.STRATUS_CODE_STORAGE,
            help="where they should be (default: STRATUS_CODE_STORAGE, now %(default)s)",
        )

    def handle(self, *args, source: str, target: str, **options):
        if source == target:
            raise CommandError("--from and --to name the same storage")
        try:
            source_storage, target_storage = storage_open(source), storage_open(target)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        names = list(CodeArtifact.objects.order_by("sha256").values_list("storage_name", flat=True))
        try:
            copied, missing = artifacts_copy(source_storage, target_storage, names)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{copied} artifact(s) copied to {target}; {len(names) - copied - len(missing)} were there already."
        )
        if missing:
            raise CommandError(f"{len(missing)} artifact(s) are in neither storage: {', '.join(missing[:5])}")
        if target != settings.STRATUS_CODE_STORAGE:
            self.stdout.write(f"Now set STRATUS_CODE_STORAGE={target} on every host.")
