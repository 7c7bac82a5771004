"""``make run``: start what this host's roles need under one supervisor, in the foreground.

``STRATUS_ROLE`` (default ``all``) is a comma list of ``api`` (migrate, make sure an admin
exists, start the managed Redis if there is no ``REDIS_URL``, then the web server on
``STRATUS_BIND``:``PORT``, the metrics consumer, the scheduler and the event source poller)
and ``worker`` (the host process that runs functions). A worker-only host shares the api
host's database, Redis and ``SECRET_KEY`` and keeps nothing else in common with it.
"""

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

ROLES = ("api", "worker")
# What a host without the api role must be given: it shares these with the api host.
_WORKER_HOST_NEEDS = ("DATABASE_URL", "SECRET_KEY")


def roles_parse(value: str) -> set[str]:
    """``STRATUS_ROLE``'s value as a set of roles; ``all`` (or nothing) is every role."""
    names = {name.strip() for name in (value or "all").split(",") if name.strip()}
    if names <= {"all"}:
        return set(ROLES)
    unknown = names - set(ROLES) - {"all"}
    if unknown:
        raise CommandError(
            f"STRATUS_ROLE={value!r}: unknown role {', '.join(sorted(unknown))}; use all, api, worker or a comma list"
        )
    return set(ROLES) if "all" in names else names


class Command(BaseCommand):
    help = "Run the whole Stratus stack in the foreground; Ctrl-C stops all of it."

    def handle(self, *args, **options):
        roles = roles_parse(os.environ.get("STRATUS_ROLE", "all"))
        port = env_int("PORT", 8000, minimum=1, maximum=65535)
        bind = settings.STRATUS_BIND
        if "api" not in roles:
            missing = [name for name in _WORKER_HOST_NEEDS if not os.environ.get(name)]
            if settings.REDIS_IS_MANAGED:
                missing.insert(0, "REDIS_URL (or REDIS_SENTINELS)")
            if missing:
                raise CommandError(
                    f"a host without the api role shares the api host's database, Redis and secret key: "
                    f"set {', '.join(missing)}"
                )
        tightened = data_dir_secure(settings.DATA_DIR)
        if tightened:
            logger.warning(
                "made %d files and directories under %s private", len(tightened), settings.DATA_DIR
            )
        if "worker" in roles:
            self._ensure_sandbox()
        supervisor = Supervisor()
        if settings.REDIS_IS_MANAGED:  # only ever with the api role (checked above)
            supervisor.add(
                "redis",
                lambda: managed_redis_start(settings.DATA_DIR, fsync=settings.STRATUS_REDIS_FSYNC),
                restart=True,
            )
        child_env = dict(os.environ)
        login = ""
        try:
            if "api" in roles:
                call_command("migrate", interactive=False, verbosity=0)
                login = self._ensure_superuser()
                self._api_start(supervisor, child_env, bind=bind, port=port)
            if "worker" in roles:
                # One host process holds every environment this machine runs (as many as fit
                # in STRATUS_HOST_MEMORY_MB), so concurrency grows with demand, not processes.
                supervisor.add(
                    "worker",
                    lambda: spawn([sys.executable, "manage.py", "stratus_worker"], env=child_env),
                )
        except BaseException:
            supervisor.stop_all()
            raise
        if "api" in roles:
            shown = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
            self.stdout.write(self.style.SUCCESS(f"\nStratus is running at http://{shown}:{port}/"))
            self.stdout.write(login)
        else:
            self.stdout.write(
                self.style.SUCCESS("\nStratus worker host is running; it takes work from Redis.")
            )
        self.stdout.write(
            f"Roles: {', '.join(sorted(roles))}    Data dir: {settings.DATA_DIR}    Ctrl-C stops everything.\n"
        )
        supervisor.run_forever()

    def _api_start(self, supervisor: Supervisor, child_env: dict[str, str], *, bind: str, port: int) -> None:
        """The web server, the metrics consumer, the scheduler and the event source poller."""
        supervisor.add(
            "web",
            lambda: spawn(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "dashboard.asgi:application",
                    "--host",
                    bind,
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
        )
        for name, command in (
            ("metrics-consumer", "stratus_consumer"),
            ("scheduler", "stratus_scheduler"),
            ("poller", "stratus_poller"),
        ):
            supervisor.add(
                name, lambda command=command: spawn([sys.executable, "manage.py", command], env=child_env)
            )

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
