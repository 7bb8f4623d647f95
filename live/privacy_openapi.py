"""The OpenAPI description of the privacy endpoints (live/privacy_api.py), merged into
the teacher API's document (live/openapi.py)."""

from __future__ import annotations

from typing import Any

ROOM_SCHEMA = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
SUB = {"name": "sub", "in": "path", "required": True,
       "schema": {"type": "string", "minLength": 1, "maxLength": 256}}
NUMBER_DAYS = {"type": "number", "exclusiveMinimum": 0}
PRIVATE_ID = {"type": "string", "pattern": "^pm-[0-9]{13}-[0-9a-f]{12}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS: dict[str, Any] = {
    "Policy": {
        "type": "object", "required": ["history_days", "schools"],
        "additionalProperties": False,
        "properties": {
            "history_days": {**NUMBER_DAYS, "description": "the effective retention: the "
                             "shortest limit of the space's schools, never above the "
                             "service's"},
            "schools": {"type": "object", "additionalProperties": NUMBER_DAYS}},
    },
    "Receipt": {
        "type": "object", "required": ["room", "before", "count", "at"],
        "properties": {
            "room": {"type": "string"},
            "before": {"type": "integer", "description": "messages older than this (ms) "
                       "were removed; for an erasure, the moment of it"},
            "count": {"type": "integer", "minimum": 1},
            "at": {"type": "integer", "description": "when (ms)"},
            "reason": {"type": "string", "enum": ["retention", "policy", "erasure"]}},
    },
    "PrivateMessage": {
        "type": "object", "required": ["id", "room", "cid", "user", "to", "text", "ts"],
        "description": "a chat message plus `to`; id `pm-<ms>-<hex>`",
        "properties": {
            "id": {"type": "string", "pattern": "^pm-[0-9]{13}-[0-9a-f]{12}$"},
            "room": {"type": "string"}, "cid": {"type": "string"},
            "user": _ref("User"), "to": _ref("User"),
            "text": {"type": "string"}, "ts": {"type": "integer"}},
    },
    "Visit": {
        "type": "object", "required": ["user", "name", "role", "school", "joined", "left"],
        "properties": {
            "user": {"type": "string"}, "name": {"type": "string"},
            "role": {"type": "string", "enum": ["teacher", "student", "visitor"]},
            "school": {"type": ["string", "null"]},
            "joined": {"type": "integer"}, "left": {"type": ["integer", "null"]},
            "room": {"type": "string"}},
    },
}


def paths(errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "/api/policy": {
            "get": {"summary": "The space's retention", "operationId": "getPolicy",
                    "responses": {"200": _json(_ref("Policy"), "The policy"), **errors}},
            "put": {"summary": "Set the caller's school's limit (token claim `school`); "
                               "applied at once to what is stored",
                    "operationId": "setPolicy",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "required": ["history_days"],
                                   "properties": {"history_days": NUMBER_DAYS}}}}},
                    "responses": {"200": _json(_ref("Policy"), "The policy after it"),
                                  **errors}},
        },
        "/api/purges": {"get": {
            "summary": "Purge receipts, newest first, one per room a purge touched",
            "operationId": "purges",
            "parameters": [{"name": "room", "in": "query", "schema": ROOM_SCHEMA}],
            "responses": {"200": _json({"type": "array", "items": _ref("Receipt")},
                                       "Receipts (no text)"), **errors}}},
        "/api/rooms/{room}/attendance": {"get": {
            "summary": "Visits to the room (first connection in, last out), oldest first",
            "operationId": "attendance",
            "parameters": [{"name": "room", "in": "path", "required": True,
                            "schema": ROOM_SCHEMA},
                           {"name": "format", "in": "query",
                            "schema": {"type": "string", "enum": ["json", "csv"],
                                       "default": "json"}}],
            "responses": {"200": {"description": "Visits", "content": {
                "application/json": {"schema": {"type": "array", "items": _ref("Visit")}},
                "text/csv": {"schema": {"type": "string", "description":
                             "header: user,name,role,school,joined,left,minutes"}}}},
                **errors}}},
        "/api/users/{sub}/messages": {"delete": {
            "summary": "Erase every message of that user in the space (receipts kept)",
            "operationId": "eraseUser", "parameters": [SUB],
            "responses": {"200": _json({
                "type": "object", "required": ["deleted"], "additionalProperties": False,
                "properties": {"deleted": {"type": "integer", "minimum": 0}}},
                "How many messages were erased, with the copies of them reports kept and "
                "the user's messages the filter held, and the private messages they sent "
                "or received"), **errors}}},
        "/api/private": {"get": {
            "summary": "A page of a room's private messages (supervision), oldest first",
            "operationId": "privateMessages",
            "parameters": [
                {"name": "room", "in": "query", "required": True, "schema": ROOM_SCHEMA},
                {"name": "before", "in": "query", "schema": PRIVATE_ID},
                {"name": "after", "in": "query", "schema": PRIVATE_ID},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                            "default": 50}}],
            "responses": {"200": _json({
                "type": "object", "required": ["messages", "more"],
                "properties": {
                    "messages": {"type": "array", "items": _ref("PrivateMessage")},
                    "more": {"type": "boolean"}}},
                "The page, and whether more lie beyond it"), **errors}}},
        "/api/users/{sub}/export": {"get": {
            "summary": "Everything the service holds about that user in the space",
            "operationId": "exportUser", "parameters": [SUB],
            "responses": {"200": _json({
                "type": "object", "required": ["user", "space", "messages", "visits",
                                               "audit", "reports"],
                "properties": {
                    "user": {"type": "string"}, "space": {"type": "string"},
                    "messages": {"type": "array", "items": _ref("Message")},
                    "private": {"type": "array", "items": _ref("PrivateMessage"),
                                "description": "private messages sent or received"},
                    "visits": {"type": "array", "items": _ref("Visit")},
                    "audit": {"type": "array", "items": _ref("AuditEntry")},
                    "reports": {"type": "array", "description": "reports the user made "
                                "(each `{id, room, message, by, reason, ts, resolved}`)",
                                "items": {"type": "object", "required": [
                                    "id", "room", "message", "by", "reason", "ts"]}},
                    "polls": {"type": "array", "description": "the user's answers to named "
                              "polls (anonymous ones cannot be linked to anyone)",
                              "items": {"type": "object", "required": [
                                  "room", "poll", "question", "kind", "choices", "text",
                                  "ts"]}}}},
                "The user's data (JSON)"), **errors}}},
    }
