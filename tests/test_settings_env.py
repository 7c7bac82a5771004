"""Settings read from the environment through typed helpers, the generated secret file, and secret encryption."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import env_bool, env_choice, env_int, env_int_list, env_list, env_str, secret_in_file
from functions_app.crypto import secret_decrypt, secret_encrypt
from tests.conftest import ROOT, stratus_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reads_an_integer_or_falls_back_to_the_default(monkeypatch):
    monkeypatch.setenv("STRATUS_TEST_INT", "42")
    assert env_int("STRATUS_TEST_INT", 7) == 42

    monkeypatch.setenv("STRATUS_TEST_INT", "")
    assert env_int("STRATUS_TEST_INT", 7) == 7
    monkeypatch.delenv("STRATUS_TEST_INT")
    assert env_int("STRATUS_TEST_INT", 7) == 7


def test_it_refuses_a_bad_integer_naming_the_variable(monkeypatch):
    monkeypatch.setenv("STRATUS_TEST_INT", "ten")

    with pytest.raises(ImproperlyConfigured) as raised:
        env_int("STRATUS_TEST_INT", 7)

    assert "STRATUS_TEST_INT" in str(raised.value)
    assert "'ten'" in str(raised.value)


def test_it_enforces_integer_bounds(monkeypatch):
    monkeypatch.setenv("STRATUS_TEST_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="STRATUS_TEST_INT must be at least 1"):
        env_int("STRATUS_TEST_INT", 5, minimum=1)

    monkeypatch.setenv("STRATUS_TEST_INT", "11")
    with pytest.raises(ImproperlyConfigured, match="STRATUS_TEST_INT must be at most 10"):
        env_int("STRATUS_TEST_INT", 5, maximum=10)

    monkeypatch.setenv("STRATUS_TEST_INT", "10")
    assert env_int("STRATUS_TEST_INT", 5, minimum=1, maximum=10) == 10


@pytest.mark.parametrize("raw", ["1", "true", "True", "YES", "on", " true "])
def test_it_reads_true_booleans(monkeypatch, raw):
    monkeypatch.setenv("STRATUS_TEST_BOOL", raw)
    assert env_bool("STRATUS_TEST_BOOL", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "off"])
def test_it_reads_false_booleans(monkeypatch, raw):
    monkeypatch.setenv("STRATUS_TEST_BOOL", raw)
    assert env_bool("STRATUS_TEST_BOOL", True) is False


def test_it_uses_the_boolean_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("STRATUS_TEST_BOOL", raising=False)
    assert env_bool("STRATUS_TEST_BOOL", True) is True
    monkeypatch.setenv("STRATUS_TEST_BOOL", "")
    assert env_bool("STRATUS_TEST_BOOL", False) is False


def test_it_refuses_a_bad_boolean_naming_the_variable(monkeypatch):
    monkeypatch.setenv("STRATUS_TEST_BOOL", "maybe")

    with pytest.raises(ImproperlyConfigured, match="STRATUS_TEST_BOOL.*'maybe'"):
        env_bool("STRATUS_TEST_BOOL", False)


def test_it_reads_a_choice_and_refuses_others(monkeypatch):
    monkeypatch.delenv("STRATUS_TEST_CHOICE", raising=False)
    assert env_choice("STRATUS_TEST_CHOICE", "on", ("on", "off")) == "on"
    monkeypatch.setenv("STRATUS_TEST_CHOICE", "off")
    assert env_choice("STRATUS_TEST_CHOICE", "on", ("on", "off")) == "off"

    monkeypatch.setenv("STRATUS_TEST_CHOICE", "sometimes")
    with pytest.raises(ImproperlyConfigured) as raised:
        env_choice("STRATUS_TEST_CHOICE", "on", ("on", "off"))
    assert "STRATUS_TEST_CHOICE" in str(raised.value)
    assert "on, off" in str(raised.value)


def test_it_reads_strings_and_comma_separated_lists(monkeypatch):
    monkeypatch.setenv("STRATUS_TEST_LIST", " a.example , b.example,, ")
    assert env_list("STRATUS_TEST_LIST", ["x"]) == ["a.example", "b.example"]
    monkeypatch.setenv("STRATUS_TEST_LIST", "   ")
    assert env_list("STRATUS_TEST_LIST", ["x"]) == ["x"]

    monkeypatch.delenv("STRATUS_TEST_STR", raising=False)
    assert env_str("STRATUS_TEST_STR", "fallback") == "fallback"
    monkeypatch.setenv("STRATUS_TEST_STR", "given")
    assert env_str("STRATUS_TEST_STR", "fallback") == "given"


def test_it_refuses_to_start_with_a_bad_setting():
    """Settings fail loudly at start-up: a Django process with a typo in its environment does not run."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=stratus_env(STRATUS_ACCOUNT_CONCURRENCY="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "STRATUS_ACCOUNT_CONCURRENCY must be an integer, got 'lots'" in result.stderr


def test_it_creates_a_secret_file_once_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "nested" / "secret_key"

    first = secret_in_file(path)

    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 50
    assert secret_in_file(path) == first
    assert secret_in_file(path) == path.read_text().strip()
    # No temporary files are left behind next to it.
    assert [entry.name for entry in path.parent.iterdir()] == ["secret_key"]


def test_it_keeps_an_existing_secret_file(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("chosen-by-the-operator\n")

    assert secret_in_file(path) == "chosen-by-the-operator"


def test_it_generates_different_secrets_for_different_files(tmp_path):
    assert secret_in_file(tmp_path / "one") != secret_in_file(tmp_path / "two")


def test_it_refuses_an_empty_secret_file(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("\n")

    with pytest.raises(ImproperlyConfigured, match="is empty"):
        secret_in_file(path)


def test_it_round_trips_an_encrypted_secret():
    ciphertext = secret_encrypt("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

    assert "wJalrXUtnFEMI" not in ciphertext
    assert secret_decrypt(ciphertext) == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_it_encrypts_the_same_secret_differently_each_time():
    first, second = secret_encrypt("same"), secret_encrypt("same")

    assert first != second
    assert secret_decrypt(first) == secret_decrypt(second) == "same"


def test_it_cannot_decrypt_with_another_secret_key(settings):
    ciphertext = secret_encrypt("guarded")

    settings.SECRET_KEY = "a-different-secret-key-for-this-test-only-0123456789"

    with pytest.raises(InvalidToken):
        secret_decrypt(ciphertext)


def test_it_reads_a_list_of_integers_and_refuses_a_bad_one(monkeypatch):
    monkeypatch.setenv("STRATUS_TEST_INTS", "1, 5,30")
    assert env_int_list("STRATUS_TEST_INTS", [2], minimum=0) == [1, 5, 30]
    monkeypatch.setenv("STRATUS_TEST_INTS", "")
    assert env_int_list("STRATUS_TEST_INTS", [2], minimum=0) == [2]
    for bad in ("1,two", "1,-5"):
        monkeypatch.setenv("STRATUS_TEST_INTS", bad)
        with pytest.raises(ImproperlyConfigured, match="STRATUS_TEST_INTS"):
            env_int_list("STRATUS_TEST_INTS", [2], minimum=0)
