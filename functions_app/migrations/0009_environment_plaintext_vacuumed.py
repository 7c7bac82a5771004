"""On SQLite, rebuild the database file after 0008 encrypted the environment variables.

SQLite leaves a row's old bytes in free space and in the WAL after an UPDATE, so the
variables 0008 replaced with ciphertext could still be read from ``stratus.sqlite3``.
VACUUM copies only live rows into a fresh file; the TRUNCATE checkpoint empties the WAL.
It cannot run inside a transaction, hence a migration of its own that is not atomic.
"""

from django.db import migrations


def _sqlite_rebuild(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL keeps old row versions until VACUUM FULL: the operator's call
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("functions_app", "0008_environment_encrypted"),
    ]

    operations = [
        migrations.RunPython(_sqlite_rebuild, migrations.RunPython.noop),
    ]
