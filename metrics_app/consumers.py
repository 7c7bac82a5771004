"""Websocket consumers: live metrics, log tail and invocation feed, per function or account-wide.

``/ws/functions/<name>/`` streams one function's metric points, log lines and new
invocations; ``/ws/account/`` streams the account's. A connection needs a signed-in
user (the session cookie) that may see the function.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from metrics_app.live import ACCOUNT_GROUP, function_group


@database_sync_to_async
def _function_exists(name: str) -> bool:
    from functions_app.models import Function

    return Function.objects.filter(name=name).exists()


class _LiveConsumer(AsyncJsonWebsocketConsumer):
    group: str = ""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await database_sync_to_async(user.has_perm)("functions_app.view_function"):
            await self.close(code=4403)
            return
        self.group = await self.group_for_scope()
        if not self.group:
            await self.close(code=4404)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def group_for_scope(self) -> str:
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
    async def group_for_scope(self) -> str:
        name = self.scope["url_route"]["kwargs"]["name"]
        return function_group(name) if await _function_exists(name) else ""


class AccountLiveConsumer(_LiveConsumer):
    async def group_for_scope(self) -> str:
        return ACCOUNT_GROUP
