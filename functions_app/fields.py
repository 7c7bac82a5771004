"""A model field whose value is readable in Python and only ciphertext in the database."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db import models

from functions_app.crypto import environment_decrypt, environment_encrypt


class EncryptedJSONField(models.TextField):
    """A JSON value (a function's environment variables) stored as Fernet ciphertext.

    Code reads and assigns the decoded value, as with a ``JSONField``; the column holds text
    encrypted under a key derived from SECRET_KEY (see crypto.py), so a copy of the database,
    its WAL or a backup alone does not reveal the variables. Every write encrypts afresh, so
    SQL cannot compare values: ``isnull`` is the only lookup it offers.
    """

    def from_db_value(self, value: str | None, expression, connection) -> Any:
        if value is None:
            return None
        return json.loads(environment_decrypt(value))

    def to_python(self, value: Any) -> Any:
        return value  # always the decoded value in Python; fixtures and forms give it decoded

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return environment_encrypt(json.dumps(value))

    def get_lookup(self, lookup_name: str):
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def value_to_string(self, obj: models.Model) -> Any:
        return self.value_from_object(obj)  # serialized as JSON, as a JSONField is

    def formfield(self, **kwargs):
        return models.Field.formfield(self, **{"form_class": forms.JSONField, **kwargs})
