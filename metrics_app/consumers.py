"""Websocket consumers: live metrics, log tail and invocation feed, per function or account-wide.

``/ws/functions/<name>/`` streams one function's metric points, log lines and new
invocations, to a signed-in user (the session cookie) who may see that function;
``/ws/account/`` streams the account's, to one who may see every function (it names them
all). Both act in the session's account (``iam.web.accounts``), as the dashboard does: another
account's function is not found, and the account feed is that account's group. The close
codes: 4401 not signed in, 4403 not allowed, 4404 no such function.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from functions_app.selectors import functions_of_account
from functions_app.web.access import EVERY_FUNCTION, VIEW
from iam.tenancy import acting_in
from iam.web.accounts import session_account_id
from metrics_app.live import account_group, function_group

NOT_SIGNED_IN, FORBIDDEN, NOT_FOUND = 4401, 4403, 4404


class _LiveConsumer(AsyncJsonWebsocketConsumer):
    group: str = ""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_SIGNED_IN)
            return
        group, refusal = await database_sync_to_async(self._group_in_account)(user)
        if refusal:
            await self.close(code=refusal)
            return
        self.group = group
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    def _group_in_account(self, user) -> tuple[str, int]:
        account = session_account_id(user, self.scope.get("session"))
        with acting_in(account):
            return self.group_for(user, account)

    def group_for(self, user, account: str) -> tuple[str, int]:
        """The group this connection joins in ``account`` (the request acts in it), or a
        close code; runs in a thread (it reads the database)."""
        raise NotImplementedError

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def metrics_points(self, event):
        await self.send_json({"type": "metrics", "points": event["points"]})

    async def logs_lines(self, event):
        await self.send_json(
            {
                "type": "logs",
                "stream": event["stream"],
                "request_id": event["request_id"],
                "lines": event["lines"],
            }
        )

    async def invocations_new(self, event):
        for invocation in event["invocations"]:
            await self.send_json({"type": "invocation", "invocation": invocation})


class FunctionLiveConsumer(_LiveConsumer):
    def group_for(self, user, account: str) -> tuple[str, int]:
        # As on the dashboard: someone who may see no function learns nothing, not even
        # whether this one exists.
        if not user.has_perm(VIEW):
            return "", FORBIDDEN
        function = functions_of_account().filter(name=self.scope["url_route"]["kwargs"]["name"]).first()
        if function is None:
            return "", NOT_FOUND
        if not user.has_perm(VIEW, function):
            return "", FORBIDDEN
        return function_group(function.name), 0


class AccountLiveConsumer(_LiveConsumer):
    def group_for(self, user, account: str) -> tuple[str, int]:
        if not user.has_perm(VIEW, EVERY_FUNCTION):
            return "", FORBIDDEN
        return account_group(account), 0
