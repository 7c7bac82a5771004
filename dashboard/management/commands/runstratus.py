"""``make run``: migrate, make sure an admin exists, start Redis and the server, stay in the foreground."""

from __future__ import annotations

import ctypes.util
import logging
import os
import secrets
import shutil
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dashboard.data_dir import data_dir_secure
from dashboard.env import env_int
from dashboard.managed_redis import managed_redis_start
from dashboard.supervisor import Supervisor, spawn
from functions_app.runtime.netns import NetworkUnavailable, network_mode, network_problem
from functions_app.runtime.sandbox import SandboxUnavailable, bwrap_path, sandbox_enabled

# (command, Debian package) for what sandboxes use: bubblewrap, the user-space network stack
# of isolated sandboxes, `ip` for their routes, mkfs.ext4 for disk-backed /tmp.
_SANDBOX_PACKAGES = (
    ("bwrap", "bubblewrap"),
    ("pasta", "passt"),
    ("ip", "iproute2"),
    ("mkfs.ext4", "e2fsprogs"),
)

logger = logging.getLogger("stratus.run")


class Command(BaseCommand):
    help = "Run the whole Stratus stack in the foreground; Ctrl-C stops all of it."

    def handle(self, *args, **options):
        port = env_int("PORT", 8000, minimum=1, maximum=65535)
        tightened = data_dir_secure(settings.DATA_DIR)
        if tightened:
            logger.warning(
                "made %d files and directories under %s private", len(tightened), settings.DATA_DIR
            )
        self._ensure_sandbox()
        supervisor = Supervisor()
        if settings.REDIS_IS_MANAGED:
            supervisor.add(
                "redis",
                lambda: managed_redis_start(settings.DATA_DIR, fsync=settings.STRATUS_REDIS_FSYNC),
                restart=True,
            )
        try:
            call_command("migrate", interactive=False, verbosity=0)
            login = self._ensure_superuser()
            child_env = dict(os.environ)
            supervisor.add(
                "web",
                lambda: spawn(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "dashboard.asgi:application",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-access-log",
                        "--lifespan",
                        "off",
                        "--timeout-graceful-shutdown",
                        "5",
                        # Requests of the same process share its caches and an interpreter
                        # lock; more processes use the cores.
                        "--workers",
                        str(settings.STRATUS_WEB_PROCESSES),
                    ],
                    env=child_env,
                ),
                restart=False,
            )
            supervisor.add(
                "metrics-consumer",
                lambda: spawn([sys.executable, "manage.py", "stratus_consumer"], env=child_env),
            )
            supervisor.add(
                "scheduler",
                lambda: spawn([sys.executable, "manage.py", "stratus_scheduler"], env=child_env),
            )
            supervisor.add(
                "poller",
                lambda: spawn([sys.executable, "manage.py", "stratus_poller"], env=child_env),
            )
            # One host process holds every environment this machine runs (as many as fit in
            # STRATUS_HOST_MEMORY_MB), so concurrency grows with demand, not with processes.
            supervisor.add(
                "worker",
                lambda: spawn([sys.executable, "manage.py", "stratus_worker"], env=child_env),
            )
        except BaseException:
            supervisor.stop_all()
            raise
        self.stdout.write(self.style.SUCCESS(f"\nStratus is running at http://127.0.0.1:{port}/"))
        self.stdout.write(login)
        self.stdout.write(f"Data dir: {settings.DATA_DIR}    Ctrl-C stops everything.\n")
        supervisor.run_forever()

    def _ensure_sandbox(self) -> None:
        """Install what sandboxes need when we can (root with apt-get); otherwise say how, and stop."""
        if not sandbox_enabled():
            logger.warning("STRATUS_SANDBOX=off: functions will run UNSANDBOXED (development only)")
            return
        missing = [package for command, package in _SANDBOX_PACKAGES if not shutil.which(command)]
        if not ctypes.util.find_library("seccomp"):
            missing.append("libseccomp2")  # the seccomp filter is compiled by it
        if missing and os.geteuid() == 0 and shutil.which("apt-get"):
            self.stdout.write(f"installing {', '.join(missing)} with apt-get ...")
            subprocess.run(["apt-get", "update", "-qq"], check=False)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", *missing],
                check=False,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        try:
            bwrap_path()
            mode = network_mode()
        except (SandboxUnavailable, NetworkUnavailable) as exc:
            raise CommandError(str(exc)) from None
        problem = network_problem(mode)
        if problem:
            raise CommandError(problem)
        if mode == "host":
            logger.warning(
                "STRATUS_SANDBOX_NETWORK=host: functions share this host's network and can reach every "
                "service listening on it (development only)"
            )

    def _ensure_superuser(self) -> str:
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        users = get_user_model().objects
        if users.filter(username=username).exists():
            return f"Sign in as {username!r} with the password set on the first run."
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or ""
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        if generated:
            return f"Sign in as {username!r} with password {password!r} (generated now and shown only once)."
        return f"Sign in as {username!r} with the password from DJANGO_SUPERUSER_PASSWORD."
