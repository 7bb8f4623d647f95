"""One rule each: message ids (`rooms.message.parse_id`), optional booleans
(`Fields.bool`), and errors as acks and HTTP responses (`live.acks`). Pure, no I/O."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from live.acks import (
    connect_refusal,
    error_ack,
    http_error_of,
    http_status,
    internal_error,
    ok_ack,
)
from live.caps import CapReached
from live.media_edge import MediaElsewhere
from live.tokens import TokenRefused
from live.wire import BAD_EXT, MAX_DEPTH, UNDEFINED, Fields, clean
from rooms.errors import (
    ERROR_CODES,
    BadRequest,
    Forbidden,
    LiveError,
    NotFound,
    NotJoined,
    RateLimited,
    TooLarge,
    Unavailable,
)
from rooms.message import MAX_ID_LEN, MessageId, parse_id, sort_key


@pytest.mark.parametrize(("value", "parsed"), [
    ("0-0", (0, 0)),
    ("1700000000000-0", (1700000000000, 0)),
    ("1-18446744073709551615", (1, (1 << 64) - 1)),
    ("007-01", (7, 1)),
])
def test_message_ids_parse(value: str, parsed: tuple[int, int]) -> None:
    assert parse_id(value) == parsed
    assert sort_key(value) == parsed


@pytest.mark.parametrize("value", [
    None, 5, b"1-0", "", "-", "1", "1-", "-1", "1-2-3", "a-1", "1-a", "+1-0", " 1-0", "1-0 ",
    "1_0-0", "\u0661-0", "1-\u00b2", "18446744073709551616-0", "1-18446744073709551616",
    "1-" + "0" * (MAX_ID_LEN - 1),
])
def test_anything_else_is_not_a_message_id(value: object) -> None:
    with pytest.raises(BadRequest, match="not a message id"):
        parse_id(value)
    with pytest.raises(ValueError, match="not a message id"):  # inside: a store, the bus
        sort_key(value)  # type: ignore[arg-type]


def test_message_ids_sort_in_send_order_and_print_canonically() -> None:
    ids = ["10-0", "9-5", "9-10", "100-0"]
    assert sorted(ids, key=sort_key) == ["9-5", "9-10", "10-0", "100-0"]
    assert str(parse_id("0009-010")) == "9-10"
    assert parse_id("9-10") == MessageId(9, 10) and parse_id("9-10") > (9, 9)


def test_fields_message_id_names_the_field() -> None:
    f = Fields({"before": "0012-3", "id": "x"})
    assert f.message_id("before") == "12-3"
    assert f.message_id("after", optional=True) is None
    with pytest.raises(BadRequest, match="^id is not a message id$"):
        f.message_id("id")
    with pytest.raises(BadRequest, match="after is not a message id"):
        f.message_id("after")


def test_fields_bool_required_and_optional() -> None:
    f = Fields({"on": True, "off": False, "bad": "yes", "num": 1})
    assert f.bool("on") is True and f.bool("off") is False
    assert f.bool("off", optional=True) is False
    assert f.bool("absent", optional=True) is None
    for name in ("bad", "num", "absent"):
        with pytest.raises(BadRequest, match=f"^{name} must be true or false$"):
            f.bool(name)
    for name in ("bad", "num"):
        with pytest.raises(BadRequest, match=f"^{name} must be true or false$"):
            f.bool(name, optional=True)


def test_acks() -> None:
    assert ok_ack(None) == {"ok": True}
    assert ok_ack({"message": {"id": "1-0"}}) == {"ok": True, "message": {"id": "1-0"}}
    for err in (BadRequest("x"), Forbidden(), NotJoined(), RateLimited(), Unavailable()):
        assert error_ack(err) == {"ok": False, "error": {"code": err.code,
                                                         "message": err.message}}
    assert internal_error().code == "unavailable"
    assert error_ack(MediaElsewhere("proc-2")) == {"ok": False, "error": {
        "code": "unavailable", "process": "proc-2",
        "message": "this room's media is served by another process; connect there"}}


def test_connect_refusals_carry_code_and_message() -> None:
    for why in (TokenRefused("expired", "the token has expired"),
                CapReached("at most 8 connections per user"), RateLimited()):
        refused = connect_refusal(why)
        assert refused.error_args == {"message": why.message, "data": {
            "code": why.code, "message": why.message}}


@pytest.mark.parametrize(("err", "status"), [
    (BadRequest(), 400), (Forbidden(), 403), (NotFound(), 404), (TooLarge(), 413),
    (RateLimited(), 429), (Unavailable(), 503),
])
def test_http_errors(err: LiveError, status: int) -> None:
    assert http_status(err) == status
    response = http_error_of(err)
    assert response.status == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.text is not None
    body: dict[str, Any] = json.loads(response.text)
    assert body == {"error": {"code": err.code, "message": err.message}}
    assert err.code in ERROR_CODES


def test_payloads_drop_undefined_and_refuse_other_extensions_flat_or_nested() -> None:
    flat = {"room": "r", "text": "hi", "n": 1, "f": 1.5, "b": True, "x": None, "raw": b"\x00"}
    assert clean(flat) == flat
    assert clean({"room": "r", "cid": UNDEFINED}) == {"room": "r"}
    assert clean({"a": {"b": UNDEFINED, "c": [UNDEFINED, 1]}}) == {"a": {"c": [None, 1]}}
    for bad in (BAD_EXT, msgpack.Timestamp(1, 0)):
        with pytest.raises(BadRequest, match="extension"):
            clean({"room": "r", "text": bad})
        with pytest.raises(BadRequest, match="extension"):
            clean({"a": [{"b": bad}]})
    deep: Any = {"room": "r"}  # flat at the bottom, too deep all the same
    for _ in range(MAX_DEPTH + 1):
        deep = {"in": deep}
    with pytest.raises(BadRequest, match="too deeply"):
        clean(deep)
