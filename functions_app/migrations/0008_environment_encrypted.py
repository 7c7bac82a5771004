"""FunctionVersion.environment becomes Fernet ciphertext in a text column (see fields.py).

The column turns into text first, then each row's JSON is encrypted in place, then the
model field takes over; backwards, rows are decrypted and the column turns back into JSON.
"""

import json

from django.db import migrations, models

import functions_app.fields
from functions_app.crypto import environment_decrypt, environment_encrypt


def _rows_encrypt(apps, schema_editor):
    versions = apps.get_model("functions_app", "FunctionVersion")
    for pk, plain in versions.objects.values_list("pk", "environment"):
        variables = json.loads(plain) if plain else {}
        versions.objects.filter(pk=pk).update(environment=environment_encrypt(json.dumps(variables)))


def _rows_decrypt(apps, schema_editor):
    versions = apps.get_model("functions_app", "FunctionVersion")
    for pk, ciphertext in versions.objects.values_list("pk", "environment"):
        plain = environment_decrypt(ciphertext) if ciphertext else "{}"
        versions.objects.filter(pk=pk).update(environment=plain)


class Migration(migrations.Migration):
    dependencies = [
        ("functions_app", "0007_topic_failed_deliveries"),
    ]

    operations = [
        migrations.AlterField(
            model_name="functionversion",
            name="environment",
            field=models.TextField(blank=True, default="{}"),
        ),
        migrations.RunPython(_rows_encrypt, _rows_decrypt),
        migrations.AlterField(
            model_name="functionversion",
            name="environment",
            field=functions_app.fields.EncryptedJSONField(blank=True, default=dict),
        ),
    ]
