"""The OpenAPI 3.1 description of the teacher HTTP API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from . import privacy_openapi
from .polls_openapi import polls_openapi

ROOM = {"name": "room", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
MESSAGE_ID = {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "A parameter is not valid"),
    "401": _json(_ref("Error"), "The bearer token is missing, malformed or expired"),
    "403": _json(_ref("Error"), "The token is not a teacher's"),
    "429": _json(_ref("Error"), "Too many calls from this teacher: retry after `Retry-After`"),
    "503": _json(_ref("Error"), "The store cannot be reached"),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {"code": {"type": "string", "enum": [
                "unauthorized", "expired", "forbidden", "bad_request", "not_found",
                "too_large", "rate_limited", "unavailable"]},
                "message": {"type": "string"}}}},
    },
    "User": {
        "type": "object", "required": ["id", "name", "role"], "additionalProperties": False,
        "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                       "role": {"type": "string", "enum": ["teacher", "student", "visitor"]}},
    },
    "Member": {
        "type": "object", "required": ["id", "name", "role", "hand"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                       "role": {"type": "string", "enum": ["teacher", "student", "visitor"]},
                       "hand": {"type": "boolean"}},
    },
    "Message": {
        "type": "object", "required": ["id", "room", "cid", "user", "text", "ts"],
        "additionalProperties": False,
        "properties": {"id": MESSAGE_ID, "room": {"type": "string"}, "cid": {"type": "string"},
                       "user": _ref("User"), "text": {"type": "string"},
                       "ts": {"type": "integer", "description": "ms since the epoch"}},
    },
    "Room": {
        "type": "object", "required": ["room", "members", "opened"],
        "additionalProperties": False,
        "properties": {"room": {"type": "string"},
                       "members": {"type": "array", "items": _ref("Member")},
                       "opened": {"type": "boolean",
                                  "description": "a teacher opened it within the retention"}},
    },
    "Report": {
        "type": "object",
        "required": ["id", "room", "message", "by", "reason", "ts", "resolved", "context"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"}, "room": {"type": "string"},
            "message": _ref("Message"),
            "by": {"oneOf": [{"type": "null", "description": "the message filter flagged it"},
                             _ref("User")]},
            "reason": {"type": "string"},
            "ts": {"type": "integer", "description": "ms since the epoch"},
            "resolved": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["action", "by", "ts"],
                "additionalProperties": False,
                "properties": {"action": {"type": "string",
                                          "enum": ["delete", "mute", "dismiss"]},
                               "by": _ref("User"), "ts": {"type": "integer"}}}]},
            "context": {
                "type": "object", "required": ["before", "after"], "additionalProperties": False,
                "description": "messages still kept just before and after the reported one",
                "properties": {"before": {"type": "array", "items": _ref("Message")},
                               "after": {"type": "array", "items": _ref("Message")}}},
        },
    },
    "AuditEntry": {
        "type": "object", "required": ["ts", "actor", "action", "room", "target"],
        "additionalProperties": False,
        "properties": {
            "ts": {"type": "integer"}, "actor": _ref("User"),
            "action": {"type": "string", "description": "the event that did it",
                       "examples": ["chat:delete", "mod:mute", "mod:kick", "mod:lock",
                                    "mod:permissions", "poll:close", "poll:reveal",
                                    "poll:publish", "mod:move"]},
            "room": {"type": "string"},
            "target": {"type": ["string", "null"],
                       "description": "the user or poll acted on, if any"},
            "detail": {"type": "object"},
        },
    },
}

BEARER: list[dict[str, list[str]]] = [{"teacherToken": []}]


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "twinspace-live teacher API", "version": "1",
                 "description": "Rooms, history, exports and the moderation audit of one "
                                "TwinSpace, for its teachers. Every call takes the bearer "
                                "token the platform signed for a teacher of that space."},
        "components": {
            "securitySchemes": {"teacherToken": {"type": "http", "scheme": "bearer",
                                                 "bearerFormat": "JWT"}},
            "schemas": {**SCHEMAS, **privacy_openapi.SCHEMAS},
        },
        "security": BEARER,
        "paths": {
            "/api/rooms": {"get": {
                "summary": "The space's rooms: every room a teacher opened (empty ones "
                           "included) and every room with members online",
                "operationId": "listRooms",
                "responses": {"200": _json({
                    "type": "object", "required": ["rooms"], "additionalProperties": False,
                    "properties": {"rooms": {"type": "array", "items": _ref("Room")}}},
                    "Rooms by name"), **ERRORS},
            }},
            "/api/rooms/{room}/messages": {"get": {
                "summary": "A page of a room's history, like chat:history",
                "operationId": "roomMessages",
                "parameters": [
                    ROOM,
                    {"name": "before", "in": "query", "schema": MESSAGE_ID},
                    {"name": "after", "in": "query", "schema": MESSAGE_ID},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                ],
                "responses": {"200": _json({
                    "type": "object", "required": ["messages", "more"],
                    "additionalProperties": False,
                    "properties": {"messages": {"type": "array", "items": _ref("Message")},
                                   "more": {"type": "boolean"}}},
                    "Oldest first; `more` says whether further messages lie beyond the page"),
                    **ERRORS},
            }},
            "/api/rooms/{room}/export": {"get": {
                "summary": "The room's whole kept history (deleted messages excluded)",
                "operationId": "exportRoom",
                "parameters": [ROOM, {"name": "format", "in": "query",
                                      "schema": {"type": "string", "enum": ["json", "csv"],
                                                 "default": "json"}}],
                "responses": {"200": {
                    "description": "An attachment. In CSV, a cell that a spreadsheet would "
                                   "read as a formula starts with an apostrophe.",
                    "content": {
                        "application/json": {"schema": {
                            "type": "object", "required": ["room", "messages"],
                            "additionalProperties": False,
                            "properties": {"room": {"type": "string"},
                                           "messages": {"type": "array",
                                                        "items": _ref("Message")}}}},
                        "text/csv": {"schema": {
                            "type": "string",
                            "description": "header: id,ts,time,user_id,user_name,role,text"}},
                    }}, **ERRORS},
            }},
            "/api/audit": {"get": {
                "summary": "Moderation actions, newest first",
                "operationId": "audit",
                "parameters": [
                    {"name": "room", "in": "query", "schema": ROOM["schema"]},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                "default": 100}},
                ],
                "responses": {"200": _json({
                    "type": "object", "required": ["entries"], "additionalProperties": False,
                    "properties": {"entries": {"type": "array", "items": _ref("AuditEntry")}}},
                    "Audit entries"), **ERRORS},
            }},
            "/api/reports": {"get": {
                "summary": "Reported messages, newest first, kept as evidence until the "
                           "message's own retention ends",
                "operationId": "reports",
                "parameters": [{"name": "room", "in": "query", "schema": ROOM["schema"]}],
                "responses": {"200": _json({
                    "type": "object", "required": ["reports"], "additionalProperties": False,
                    "properties": {"reports": {"type": "array", "items": _ref("Report")}}},
                    "Reports"), **ERRORS},
            }},
            **privacy_openapi.paths(ERRORS),
            **polls_openapi(ERRORS),
        },
    }
