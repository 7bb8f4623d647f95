"""Signed tokens (contract §1): verified on connect and on every teacher call."""

from __future__ import annotations

import binascii
import re
import time
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

from rooms.identity import SPACE_ID, Identity, Role

AUDIENCE = "twinspace-live"
REQUIRED = ["sub", "name", "role", "space", "aud", "exp", "iat"]
LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_TOKEN = 8192


class TokenRefused(Exception):
    """Refusal with no hint of which users or rooms exist."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


UNAUTHORIZED = ("unauthorized", "the token is missing or not valid")


class PreparedHMAC(HMACAlgorithm):
    """PyJWT's HS256, with the checks of the secret made once per secret instead of once
    per token.

    Why: `HMACAlgorithm.prepare_key` refuses a secret that is an asymmetric key, a
    certificate or a JWK (it tries to parse it as each); it ran on every `jwt.decode`,
    on the same secret, about a fifth of a token check. It is a function of the key
    bytes alone, so its result is kept per secret (a failure is not kept: it raises
    again). Signing, verifying and every claim check stay PyJWT's.

    Registered for HS256 in the verifier's own `PyJWS` (`register_algorithm`, its public
    API; `_JWT` below): the same algorithm, the same checks."""

    MAX_KEYS = 8  # secrets kept (one in service; tests make a few)

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared: dict[bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        raw = key.encode() if isinstance(key, str) else key
        got = self._prepared.get(raw)
        if got is None:
            got = super().prepare_key(raw)  # raises for a key that must not be an HMAC one
            if len(self._prepared) < self.MAX_KEYS:
                self._prepared[raw] = got
        return got


_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")  # base64url without padding (RFC 7515 §2)


class SegmentCheckedJWS(PyJWS):
    """PyJWT's JWS with its base64url check of each segment made by one regular
    expression instead of a Python generator over every byte.

    Why: PyJWT 2.15's `_decode_base64url_segment` refuses bytes outside the base64url
    alphabet (GHSA-hxm8-2xgr-2p9m) with `any(c not in ALPHABET for c in segment)`:
    about 250 generator steps for a member's token, half of a token check (~20 µs of
    ~45), on every CONNECT of a reconnect storm. The same refusals in the same order
    (padding, alphabet and length, canonical encoding: the body below is PyJWT's with
    the alphabet test replaced; seam `jwt-segments` in live/seam.py checks that the
    library's still reads so); `tests/test_tokens.py` compares the two on malformed
    segments."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        padding = 0
        stripped = segment
        while stripped.endswith(b"="):
            stripped = stripped[:-1]
            padding += 1
            if padding > 2:
                raise DecodeError(f"Invalid {name} padding")
        if padding and len(segment) % 4 != 0:
            raise DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1 or _SEGMENT.fullmatch(stripped) is None:
            raise DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise DecodeError(f"Invalid {name} padding") from err
        if base64url_encode(decoded) != stripped:
            raise DecodeError(f"Invalid {name} padding")
        return decoded


class _JWT(jwt.PyJWT):
    """PyJWT's JWT decoder (every claim check its own) on `SegmentCheckedJWS`, with
    `PreparedHMAC` for HS256 (seam `jwt-segments`: `PyJWT.__init__` makes its `_jws` as
    below, and `decode` verifies through it)."""

    def __init__(self) -> None:
        super().__init__()
        self._jws = SegmentCheckedJWS(options=self._get_sig_options())
        self._jws.unregister_algorithm("HS256")
        self._jws.register_algorithm("HS256", PreparedHMAC())

    def get_unverified_header(self, token: str) -> dict[str, Any]:
        header: dict[str, Any] = self._jws.get_unverified_header(token)
        return header


class Verifier:
    def __init__(self, secret: str, public_key: str | None = None, leeway: float = 5.0) -> None:
        self._keys: list[tuple[Any, list[str]]] = [(secret, ["HS256"])]
        if public_key:
            # asymmetric tokens are checked only against the public key, never as HMAC
            self._keys.insert(0, (public_key, ["EdDSA", "RS256"]))
        self._leeway = leeway
        self._jwt = _JWT()

    @property
    def leeway(self) -> float:
        """Seconds a token is still taken after its `exp` (clock skew)."""
        return self._leeway

    def verify(self, token: object) -> Identity:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise TokenRefused(*UNAUTHORIZED)
        if len(self._keys) == 1:
            # the secret alone: `jwt.decode` refuses any other `alg` itself, so the header
            # needs no reading first
            return self._decode(token, *self._keys[0])
        try:
            header = self._jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused(*UNAUTHORIZED) from None
        alg = header.get("alg")
        for key, algs in self._keys:
            if alg in algs:
                return self._decode(token, key, algs)
        raise TokenRefused(*UNAUTHORIZED)

    def _decode(self, token: str, key: Any, algs: list[str]) -> Identity:
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=algs,
                audience=AUDIENCE,
                leeway=self._leeway,
                options={"require": REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("expired", "the token has expired") from None
        except jwt.PyJWTError:
            raise TokenRefused(*UNAUTHORIZED) from None
        return identity_of(claims)


def identity_of(claims: dict[str, Any]) -> Identity:
    sub, name, role, space = (claims.get(k) for k in ("sub", "name", "role", "space"))
    school, lang = claims.get("school"), claims.get("lang")
    ok = (
        isinstance(sub, str)
        and 0 < len(sub) <= 128
        and not CONTROL.search(sub)
        and isinstance(name, str)
        and 0 < len(name.strip())
        and len(name) <= 80
        and not CONTROL.search(name)
        and role in {r.value for r in Role}
        and isinstance(space, str)
        and SPACE_ID.fullmatch(space) is not None
        and (school is None or (isinstance(school, str) and 0 < len(school) <= 128))
        and (lang is None or (isinstance(lang, str) and LANG.fullmatch(lang) is not None))
        and isinstance(claims.get("iat"), int | float)
        and isinstance(claims.get("exp"), int | float)
    )
    if not ok:
        raise TokenRefused(*UNAUTHORIZED)
    assert isinstance(sub, str) and isinstance(name, str) and isinstance(space, str)
    assert isinstance(role, str)
    return Identity(
        sub,
        name.strip(),
        Role(role),
        space,
        school if isinstance(school, str) else None,
        lang if isinstance(lang, str) else None,
        claims["exp"],
    )


def mint(
    secret: str,
    *,
    space: str,
    role: str,
    name: str,
    sub: str,
    ttl: int = 3600,
    lang: str | None = None,
    school: str | None = None,
    now: float | None = None,
) -> str:
    """A token for demos and tests (`twinspace-live token`)."""
    iat = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": sub,
        "name": name,
        "role": role,
        "space": space,
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + ttl,
    }
    if lang:
        claims["lang"] = lang
    if school:
        claims["school"] = school
    return jwt.encode(claims, secret, algorithm="HS256")
