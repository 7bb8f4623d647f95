"""The OpenAPI description of the poll endpoints (live/polls_api.py), merged into the
teacher API's document (live/openapi.py)."""

from __future__ import annotations

from typing import Any

POLL_COLUMNS = ["row", "option", "text", "count", "correct", "user_id", "user_name"]


def polls_openapi(errors: dict[str, Any]) -> dict[str, Any]:
    """The endpoints' part of the OpenAPI document (live/openapi.py)."""
    room = {"name": "room", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
    poll = {"type": "object", "required": ["id", "question", "options", "multiple",
                                           "anonymous", "open", "counts", "kind"]}
    return {
        "/api/rooms/{room}/polls": {"get": {
            "summary": "Every poll of the room still kept, as teachers see them",
            "operationId": "roomPolls", "parameters": [room],
            "responses": {"200": {"description": "Polls, oldest first", "content": {
                "application/json": {"schema": {
                    "type": "object", "required": ["polls"],
                    "properties": {"polls": {"type": "array", "items": poll}}}}}},
                **errors}}},
        "/api/rooms/{room}/polls/{poll}": {"get": {
            "summary": "A poll as teachers see it, or its results as CSV",
            "operationId": "roomPoll",
            "parameters": [room, {"name": "poll", "in": "path", "required": True,
                                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"}},
                           {"name": "format", "in": "query",
                            "schema": {"type": "string", "enum": ["json", "csv"],
                                       "default": "json"}}],
            "responses": {"200": {"description": "The poll", "content": {
                "application/json": {"schema": poll},
                "text/csv": {"schema": {"type": "string", "description":
                             "header: " + ",".join(POLL_COLUMNS)}}}},
                "404": {"description": "No such poll", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                **errors}}},
    }
