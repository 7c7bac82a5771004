"""``make run``: migrate, make sure an admin exists, start Redis and the server, stay in the foreground."""

from __future__ import annotations

import logging
import os
import secrets
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from dashboard.env import env_int
from dashboard.managed_redis import managed_redis_start
from dashboard.supervisor import Supervisor, spawn

logger = logging.getLogger("stratus.run")


class Command(BaseCommand):
    help = "Run the whole Stratus stack in the foreground; Ctrl-C stops all of it."

    def handle(self, *args, **options):
        port = env_int("PORT", 8000, minimum=1, maximum=65535)
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
                    ],
                    env=child_env,
                ),
                restart=False,
            )
            for index in range(settings.STRATUS_WORKERS):
                supervisor.add(
                    f"worker-{index + 1}",
                    lambda index=index: spawn(
                        [sys.executable, "manage.py", "stratus_worker", "--slot", str(index + 1)],
                        env=child_env,
                    ),
                )
        except BaseException:
            supervisor.stop_all()
            raise
        self.stdout.write(self.style.SUCCESS(f"\nStratus is running at http://127.0.0.1:{port}/"))
        self.stdout.write(login)
        self.stdout.write(f"Data dir: {settings.DATA_DIR}    Ctrl-C stops everything.\n")
        supervisor.run_forever()

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
