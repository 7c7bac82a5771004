"""``STRATUS_CODE_STORAGE``: where code artifacts live (``STORAGES["default"]``).

- ``database`` (default): ``functions_app.storage.DatabaseStorage``. Every host that can reach
  the database fetches code by its hash, so many hosts share nothing but PostgreSQL and Redis.
- ``s3://BUCKET[/PREFIX]``: any S3-compatible store through django-storages
  (``STRATUS_S3_ENDPOINT_URL`` for one that is not AWS; credentials from the standard AWS
  variables).
- ``filesystem``: the data dir's ``artifacts/``, where releases before this one kept them.
  One host only.

``manage.py stratus_code_move`` copies every artifact from one to another.
"""

from __future__ import annotations

from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured


def code_storage_config(value: str, *, data_dir: str, endpoint_url: str = "") -> dict:
    """The ``STORAGES["default"]`` entry for a ``STRATUS_CODE_STORAGE`` value."""
    value = value.strip() or "database"
    if value == "database":
        return {"BACKEND": "functions_app.storage.DatabaseStorage"}
    if value == "filesystem":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": f"{data_dir}/artifacts"},
        }
    parsed = urlparse(value)
    if parsed.scheme == "s3" and parsed.netloc:
        options = {
            "bucket_name": parsed.netloc,
            "location": parsed.path.strip("/"),
            # Names are content hashes: the same name is always the same bytes.
            "file_overwrite": True,
            "default_acl": None,
            # Spool what is read to disk past 1 MiB: artifacts are up to 250 MB unzipped.
            "max_memory_size": 1024 * 1024,
        }
        if endpoint_url:
            options["endpoint_url"] = endpoint_url
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    raise ImproperlyConfigured(
        f"STRATUS_CODE_STORAGE={value!r}: expected 'database', 'filesystem' or 's3://BUCKET[/PREFIX]'"
    )
