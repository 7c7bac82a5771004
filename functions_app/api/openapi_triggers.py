"""The OpenAPI paths of ``/api/v1/`` routes for queues, streams, topics and schedules."""

from __future__ import annotations


def _name(what: str) -> dict:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": what}


def _body(**properties: dict) -> dict:
    schema = {"type": "object", "properties": properties}
    return {"content": {"application/json": {"schema": schema}}}


_STRING = {"type": "string"}
_OK = {
    "200": {"description": "OK"},
    "400": {"description": "Invalid input"},
    "404": {"description": "Not found"},
}
_CREATED = {"201": {"description": "Created"}, "400": {"description": "Invalid input"}}
_DELETED = {"204": {"description": "Deleted"}, "404": {"description": "Not found"}}

PATHS = {
    "/queues": {
        "get": {
            "summary": "Queues with their depth, in-flight and delayed counts and oldest age",
            "responses": _OK,
        },
        "post": {
            "summary": "Create a queue (SQS attributes such as VisibilityTimeout as strings)",
            "requestBody": _body(name=_STRING, attributes={"type": "object"}),
            "responses": _CREATED,
        },
    },
    "/queues/{name}": {
        "get": {"summary": "One queue", "parameters": [_name("The queue's name.")], "responses": _OK},
        "delete": {
            "summary": "Delete a queue",
            "parameters": [_name("The queue's name.")],
            "responses": _DELETED,
        },
    },
    "/queues/{name}/messages": {
        "post": {
            "summary": "Send a message (a test message from the dashboard)",
            "parameters": [_name("The queue's name.")],
            "requestBody": _body(body=_STRING, attributes={"type": "object"}),
            "responses": _CREATED,
        }
    },
    "/queues/{name}/purge": {
        "post": {
            "summary": "Delete every message",
            "parameters": [_name("The queue's name.")],
            "responses": _OK,
        }
    },
    "/streams": {
        "get": {"summary": "Streams with each shard's length and oldest record's age", "responses": _OK},
        "post": {
            "summary": "Create a stream",
            "requestBody": _body(name=_STRING, shardCount={"type": "integer", "minimum": 1, "maximum": 64}),
            "responses": _CREATED,
        },
    },
    "/streams/{name}": {
        "get": {"summary": "One stream", "parameters": [_name("The stream's name.")], "responses": _OK},
        "delete": {
            "summary": "Delete a stream",
            "parameters": [_name("The stream's name.")],
            "responses": _DELETED,
        },
    },
    "/streams/{name}/records": {
        "post": {
            "summary": "Put records; a record goes to the shard its partition key hashes to",
            "parameters": [_name("The stream's name.")],
            "requestBody": _body(
                records={
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"partitionKey": _STRING, "data": _STRING, "dataBase64": _STRING},
                    },
                }
            ),
            "responses": _CREATED,
        }
    },
    "/topics": {
        "get": {"summary": "Topics with their subscriptions", "responses": _OK},
        "post": {"summary": "Create a topic", "requestBody": _body(name=_STRING), "responses": _CREATED},
    },
    "/topics/{name}": {
        "get": {"summary": "One topic", "parameters": [_name("The topic's name.")], "responses": _OK},
        "delete": {
            "summary": "Delete a topic",
            "parameters": [_name("The topic's name.")],
            "responses": _DELETED,
        },
    },
    "/topics/{name}/subscriptions": {
        "post": {
            "summary": "Subscribe a function (lambda), a queue (sqs) or a webhook (http, https)",
            "parameters": [_name("The topic's name.")],
            "requestBody": _body(
                protocol={"enum": ["lambda", "sqs", "http", "https"]},
                endpoint=_STRING,
                rawMessageDelivery={"type": "boolean"},
            ),
            "responses": _CREATED,
        }
    },
    "/topics/{name}/subscriptions/{subscriptionId}": {
        "delete": {
            "summary": "Unsubscribe",
            "parameters": [
                _name("The topic's name."),
                {"name": "subscriptionId", "in": "path", "required": True, "schema": _STRING},
            ],
            "responses": _DELETED,
        }
    },
    "/topics/{name}/publish": {
        "post": {
            "summary": "Publish a message to every subscriber",
            "parameters": [_name("The topic's name.")],
            "requestBody": _body(message=_STRING, subject=_STRING, attributes={"type": "object"}),
            "responses": _CREATED,
        }
    },
    "/topics/{name}/failed-deliveries": {
        "get": {
            "summary": "Deliveries to the topic's http(s) subscribers that failed after their retries",
            "parameters": [_name("The topic's name.")],
            "responses": _OK,
        }
    },
    "/topics/{name}/failed-deliveries/redrive": {
        "post": {
            "summary": "Deliver failed deliveries again",
            "parameters": [_name("The topic's name.")],
            "requestBody": _body(
                ids={"type": "array", "items": {"type": "integer"}}, all={"type": "boolean"}
            ),
            "responses": _OK,
        }
    },
    "/schedules": {
        "get": {
            "summary": "Schedules (optionally of one function) with their next firing",
            "parameters": [{"name": "function", "in": "query", "schema": _STRING}],
            "responses": _OK,
        },
        "post": {
            "summary": "Create a schedule: rate(...), cron(...) or at(...), in a time zone",
            "requestBody": _body(
                name=_STRING,
                function=_STRING,
                qualifier=_STRING,
                expression=_STRING,
                timeZone=_STRING,
                enabled={"type": "boolean"},
                detail={"type": "object"},
                description=_STRING,
            ),
            "responses": {**_CREATED, "409": {"description": "A schedule with that name exists"}},
        },
    },
    "/schedules/{name}": {
        "get": {"summary": "One schedule", "parameters": [_name("The schedule's name.")], "responses": _OK},
        "put": {
            "summary": "Change a schedule (enable or disable it, change its expression)",
            "parameters": [_name("The schedule's name.")],
            "requestBody": _body(
                expression=_STRING,
                timeZone=_STRING,
                enabled={"type": "boolean"},
                detail={"type": "object"},
                description=_STRING,
                qualifier=_STRING,
            ),
            "responses": _OK,
        },
        "delete": {
            "summary": "Delete a schedule",
            "parameters": [_name("The schedule's name.")],
            "responses": _DELETED,
        },
    },
}
