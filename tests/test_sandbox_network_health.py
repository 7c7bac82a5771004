"""Which network sandboxes get is visible: /healthz reports it, and a worker whose sandboxes
share the host's network (STRATUS_SANDBOX_NETWORK=host) puts a warning on the dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from dashboard.context import platform
from tests.conftest import _spawn_logged, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]


def _health(url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


class _Request:
    def __init__(self, user) -> None:
        self.user = user


def test_it_reports_the_sandbox_network_of_the_workers(live_server_url):
    workers = wait_until(
        lambda: (found := _health(live_server_url)["workers"])["alive"] >= 2 and found, timeout=20
    )
    # Networks of their own need root; without it the suite's workers share the host's.
    expected = "isolated" if os.geteuid() == 0 else "host"
    assert workers["sandbox_networks"] == [expected]
    assert workers["host_network"] == (0 if expected == "isolated" else workers["alive"])


def test_it_warns_when_a_worker_shares_the_hosts_network(live_server_url, tmp_path):
    user = get_user_model().objects.create_superuser("banner-admin", password="x")
    worker = _spawn_logged(
        [sys.executable, "manage.py", "stratus_worker", "--slot", "93"],
        tmp_path / "worker.log",
        STRATUS_SANDBOX_NETWORK="host",
    )
    try:
        workers = wait_until(
            lambda: (found := _health(live_server_url)["workers"])["host_network"] >= 1 and found,
            timeout=20,
            what="a host-network worker in /healthz",
        )
        assert "host" in workers["sandbox_networks"]
        assert "share this host's network" in platform(_Request(user))["platform_banner"]
    finally:
        # It serves the shared queues like any worker: a job it took may hold up a warm
        # shutdown, and what a killed worker held is rescued by the others.
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
