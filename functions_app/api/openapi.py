"""The OpenAPI document of Stratus's own JSON API (``/api/v1/``)."""

_FUNCTION = {
    "name": "function",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The function's name.",
}
_ERROR = {"description": "Not signed in / not signed", "content": {"application/json": {}}}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {
        "title": "Stratus API",
        "version": "1",
        "description": "Stratus's own API. Authenticate with a dashboard session (send the CSRF token with "
        "writes) or sign requests with an access key (AWS SigV4), as for the Lambda API.",
    },
    "servers": [{"url": "/api/v1"}],
    "paths": {
        "/metrics": {
            "get": {
                "summary": "One metric as a time series, for a function (or qualifier) or the whole account",
                "parameters": [
                    {
                        "name": "metric",
                        "in": "query",
                        "schema": {"type": "string", "default": "Invocations"},
                        "description": "Invocations, Errors, Throttles, Duration, ConcurrentExecutions, ColdStarts, "
                        "InitDuration, BilledDuration, GBSeconds, AsyncEventsReceived, AsyncEventAge, "
                        "AsyncEventsDropped, DestinationDeliveryFailures, DeadLetterErrors, …",
                    },
                    {
                        "name": "function",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Omit for account-wide.",
                    },
                    {
                        "name": "qualifier",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "A version or alias: the Resource dimension.",
                    },
                    {
                        "name": "statistic",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "examples": ["Sum", "Average", "Maximum", "SampleCount", "p99"],
                        },
                    },
                    {
                        "name": "period",
                        "in": "query",
                        "schema": {"type": "integer", "default": 60},
                        "description": "Seconds: 1 (live, last hour) or a multiple of 60.",
                    },
                    {
                        "name": "start",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "ISO-8601 or epoch seconds; default an hour before end.",
                    },
                    {
                        "name": "end",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Default now.",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The series",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "metric": {"type": "string"},
                                        "statistic": {"type": "string"},
                                        "period": {"type": "integer"},
                                        "unit": {"type": "string"},
                                        "points": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "t": {"type": "string", "format": "date-time"},
                                                    "v": {"type": ["number", "null"]},
                                                },
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "400": {"description": "A bad parameter, with a message saying which"},
                },
            }
        },
        "/functions/{function}/invocations": {
            "get": {
                "summary": "A function's invocation history, newest first",
                "parameters": [
                    _FUNCTION,
                    {
                        "name": "outcome",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "success, error (any failure), timeout, oom, crash, init_error; comma-separated",
                    },
                    {"name": "cold", "in": "query", "schema": {"enum": ["true", "false"]}},
                    {"name": "trigger", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "invocationType",
                        "in": "query",
                        "schema": {"enum": ["RequestResponse", "Event"]},
                    },
                    {
                        "name": "requestId",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "A prefix",
                    },
                    {"name": "minDurationMs", "in": "query", "schema": {"type": "number"}},
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "number"},
                        "description": "Epoch seconds",
                    },
                    {
                        "name": "until",
                        "in": "query",
                        "schema": {"type": "number"},
                        "description": "Epoch seconds",
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}},
                    {
                        "name": "before",
                        "in": "query",
                        "schema": {"type": "integer"},
                        "description": "The `next` cursor of the previous page",
                    },
                ],
                "responses": {
                    "200": {"description": "Invocations and, when there are more, a `next` cursor"}
                },
            }
        },
        "/invocations/{requestId}": {
            "get": {
                "summary": "One invocation: every run (attempts, redeliveries) with its phases, payloads and logs",
                "parameters": [
                    {"name": "requestId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "The invocation"}, "404": {"description": "Unknown"}},
            }
        },
        "/functions/{function}/async-events": {
            "get": {
                "summary": "Asynchronous events of a function: queued, running, retrying, failed, redriven",
                "parameters": [
                    _FUNCTION,
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["queued", "running", "retrying", "failed", "redriven"]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The events, oldest live ones first, then failed ones, newest first",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/AsyncEvents"}}
                        },
                    },
                    "401": _ERROR,
                    "404": {"description": "No such function"},
                },
            }
        },
        "/functions/{function}/async-events/redrive": {
            "post": {
                "summary": "Run failed events again (one, several, or all), keeping their request ids",
                "parameters": [_FUNCTION],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "requestIds": {"type": "array", "items": {"type": "string"}},
                                    "all": {"type": "boolean"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": {
                        "description": "The request ids redriven",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "redriven": {"type": "array", "items": {"type": "string"}}
                                    },
                                }
                            }
                        },
                    }
                },
            }
        },
        "/functions/{function}/failed-deliveries": {
            "get": {
                "summary": "Destination and dead-letter deliveries that failed after their retries",
                "parameters": [_FUNCTION],
                "responses": {"200": {"description": "The failed deliveries, newest first"}, "401": _ERROR},
            }
        },
        "/functions/{function}/failed-deliveries/redrive": {
            "post": {
                "summary": "Deliver failed deliveries again",
                "parameters": [_FUNCTION],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "ids": {"type": "array", "items": {"type": "integer"}},
                                    "all": {"type": "boolean"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "The ids redriven"}},
            }
        },
    },
    "components": {
        "schemas": {
            "AsyncEvent": {
                "type": "object",
                "properties": {
                    "requestId": {"type": "string"},
                    "state": {"enum": ["queued", "running", "retrying", "failed", "redriven"]},
                    "qualifier": {"type": ["string", "null"]},
                    "attempts": {
                        "type": "integer",
                        "description": "Runs that ended in a function error so far",
                    },
                    "throttles": {"type": "integer"},
                    "redeliveries": {"type": "integer", "description": "Reruns after a worker died mid-run"},
                    "condition": {"type": "string"},
                    "lastError": {"type": ["string", "null"]},
                    "acceptedAt": {},
                    "nextAttemptAt": {},
                },
            },
            "AsyncEvents": {
                "type": "object",
                "properties": {
                    "function": {"type": "string"},
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/AsyncEvent"}},
                },
            },
        }
    },
}

# The trigger routes live in their own module; their paths join the document here.
from functions_app.api.openapi_triggers import PATHS as _TRIGGER_PATHS  # noqa: E402

OPENAPI["paths"].update(_TRIGGER_PATHS)
