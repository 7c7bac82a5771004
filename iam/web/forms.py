"""The IAM pages' forms. They only read what was typed: names, documents and their limits are
checked by ``iam.services`` (as for the API), and ``refusal_show`` puts the service's error
beside the field it is about, on a bound form that still holds the user's input."""

from __future__ import annotations

import json

from django import forms

from iam.errors import EntityAlreadyExists, IamError, MalformedPolicyDocument

LAMBDA_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    },
    indent=4,
)
EMPTY_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "", "Resource": "*"}]}, indent=4
)


def _document_field(label: str, initial: str = "") -> forms.CharField:
    """A JSON editor: kept exactly as typed (no stripping), monospace, never spell-checked."""
    return forms.CharField(
        label=label,
        initial=initial,
        strip=False,
        widget=forms.Textarea(
            attrs={"class": "code json", "rows": 18, "spellcheck": "false", "data-filename": "policy.json"}
        ),
    )


class NameForm(forms.Form):
    """A new user or group: just its name."""

    name = forms.CharField(label="Name", max_length=128)


class RoleCreateForm(forms.Form):
    name = forms.CharField(label="Role name", max_length=64)
    description = forms.CharField(label="Description", max_length=1000, required=False)
    document = _document_field("Trust policy", LAMBDA_TRUST_POLICY)


class PolicyCreateForm(forms.Form):
    name = forms.CharField(label="Policy name", max_length=128)
    description = forms.CharField(label="Description", max_length=1000, required=False)
    document = _document_field("Policy document", EMPTY_POLICY)


class InlinePolicyForm(forms.Form):
    name = forms.CharField(label="Policy name", max_length=128)
    document = _document_field("Policy document", EMPTY_POLICY)


class PolicyVersionForm(forms.Form):
    document = _document_field("Policy document")
    set_as_default = forms.BooleanField(label="Set as the default version", required=False, initial=True)


class TrustPolicyForm(forms.Form):
    document = _document_field("Trust policy")


class SimulateForm(forms.Form):
    """May PRINCIPAL do ACTION on RESOURCE? ``principal`` is a user's or role's ARN."""

    principal = forms.ChoiceField(label="Principal")
    action = forms.CharField(
        label="Action", max_length=128, widget=forms.TextInput(attrs={"placeholder": "s3:GetObject"})
    )
    resource = forms.CharField(label="Resource", max_length=2048, initial="*")

    def __init__(self, *args, principals: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["principal"].choices = principals


OUTCOMES = (("", "Any"), ("allowed", "Allowed"), ("denied", "Denied"))


class AuditFilterForm(forms.Form):
    principal = forms.CharField(label="Principal", required=False)
    action = forms.CharField(label="Action contains", required=False)
    resource = forms.CharField(label="Resource contains", required=False)
    outcome = forms.ChoiceField(label="Outcome", choices=OUTCOMES, required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))


def refusal_show(form: forms.Form, error: IamError) -> None:
    """Show the service's refusal beside the field it is about (the document, the name) or
    above the form; the form keeps what was typed."""
    message = f"{error.code}: {error.message}"
    if "document" in form.fields and (
        isinstance(error, MalformedPolicyDocument) or "PolicySize" in error.message
    ):
        form.add_error("document", message)
    elif "name" in form.fields and (isinstance(error, EntityAlreadyExists) or "Name'" in error.message):
        form.add_error("name", message)
    else:
        form.add_error(None, message)
