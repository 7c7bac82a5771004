"""``manage.py stratus_code_move --from filesystem``: copy every code artifact from one storage
to another (the database, S3, or the data dir), checking each against its hash. Then set
``STRATUS_CODE_STORAGE`` to the target on every host."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from functions_app.models import CodeArtifact
from functions_app.services.artifacts import artifacts_copy, storage_config, storage_open


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
        try:
            if storage_config(source) == storage_config(target):
                raise CommandError("--from and --to name the same storage")
            source_storage, target_storage = storage_open(source), storage_open(target)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        names = list(CodeArtifact.objects.order_by("sha256").values_list("storage_name", flat=True))
        result = artifacts_copy(source_storage, target_storage, names)
        there = len(names) - result.copied - len(result.missing) - len(result.corrupt)
        self.stdout.write(f"{result.copied} artifact(s) copied to {target}; {there} were there already.")
        problems = []
        if result.missing:
            problems.append(f"{len(result.missing)} in neither storage: {', '.join(result.missing[:5])}")
        if result.corrupt:
            problems.append(
                f"{len(result.corrupt)} not matching their hash in {source} (not copied): {', '.join(result.corrupt[:5])}"
            )
        if problems:
            raise CommandError("Artifacts " + "; ".join(problems))
        if target != settings.STRATUS_CODE_STORAGE:
            self.stdout.write(f"Now set STRATUS_CODE_STORAGE={target} on every host.")
