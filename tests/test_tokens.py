"""Contract §1: every refusal case, over a real connection, and `token` CLI."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from live.tokens import AUDIENCE, TokenRefused, Verifier

from .support import ROOT, SECRET, run_server


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    c: dict[str, Any] = {"sub": "u1", "name": "Ana", "role": "student", "space": "space1",
                         "aud": AUDIENCE, "iat": now, "exp": now + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def hs(c: dict[str, Any], key: str = SECRET) -> str:
    return jwt.encode(c, key, algorithm="HS256")


def b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUB = RSA.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

def refused_tokens() -> dict[str, tuple[Any, str]]:
    """Tokens a verifier must refuse, and the code it refuses them with. Built when a
    test runs, not at import: a token refused for its role must not be refused as
    expired instead because the suite ran longer than its ten minutes."""
    return {
        "missing": (None, "unauthorized"),
        "empty": ("", "unauthorized"),
        "not a string": (12345, "unauthorized"),
        "malformed": ("not.a.jwt", "unauthorized"),
        "garbage": ("x" * 20000, "unauthorized"),
        "expired": (hs(claims(exp=int(time.time()) - 120, iat=int(time.time()) - 700)), "expired"),
        "future nbf": (hs(claims(nbf=int(time.time()) + 3600)), "unauthorized"),
        "other audience": (hs(claims(aud="someone-else")), "unauthorized"),
        "no audience": (hs(claims(aud=None)), "unauthorized"),
        "alg none": (
            b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + ".", "unauthorized"),
        "other key": (hs(claims(), "another-secret-" + "y" * 32), "unauthorized"),
        "HS signed with the RSA public key": (
            b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims()) + ".sig", "unauthorized"),
        "RS256 without a configured key": (
            jwt.encode(claims(), RSA, algorithm="RS256"), "unauthorized"),
        "unknown role": (hs(claims(role="admin")), "unauthorized"),
        "missing sub": (hs(claims(sub=None)), "unauthorized"),
        "missing space": (hs(claims(space=None)), "unauthorized"),
        "missing exp": (hs(claims(exp=None)), "unauthorized"),
        "missing iat": (hs(claims(iat=None)), "unauthorized"),
        "huge name": (hs(claims(name="n" * 81)), "unauthorized"),
        "empty name": (hs(claims(name="   ")), "unauthorized"),
        "control characters": (hs(claims(name="Ana\x00\x1b[31m")), "unauthorized"),
        "space with slash": (hs(claims(space="a/b")), "unauthorized"),
        "numeric sub": (hs(claims(sub=42)), "unauthorized"),
        "bad lang": (hs(claims(lang="<script>")), "unauthorized"),
        "tampered payload": (
            hs(claims()).split(".")[0] + "." + b64(claims(role="teacher")) + "."
            + hs(claims()).split(".")[2], "unauthorized"),
    }


@pytest.mark.parametrize("case", sorted(refused_tokens()))
def test_verifier_refuses(case: str) -> None:
    tok, code = refused_tokens()[case]
    with pytest.raises(TokenRefused) as refused:
        Verifier(SECRET).verify(tok)
    assert refused.value.code == code
    # no hint of users or rooms
    assert "u1" not in refused.value.message and "space1" not in refused.value.message


def test_verifier_accepts_a_good_token() -> None:
    who = Verifier(SECRET).verify(hs(claims(lang="ar", school="s-9")))
    assert (who.sub, who.name, who.role.value, who.space, who.lang, who.school) == (
        "u1", "Ana", "student", "space1", "ar", "s-9")


def test_asymmetric_tokens_with_a_public_key() -> None:
    v = Verifier(SECRET, RSA_PUB)
    assert v.verify(jwt.encode(claims(), RSA, algorithm="RS256")).sub == "u1"
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_pub = ed.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert Verifier(SECRET, ed_pub).verify(jwt.encode(claims(), ed, algorithm="EdDSA")).sub == "u1"
    # HS/RS confusion: an HMAC token keyed with the public key text is refused
    import hashlib
    import hmac
    head_body = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims(role="teacher"))
    sig = hmac.new(RSA_PUB.encode(), head_body.encode(), hashlib.sha256).digest()
    forged = head_body + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    with pytest.raises(TokenRefused):
        v.verify(forged)
    assert v.verify(hs(claims())).sub == "u1"  # the shared secret still works


async def test_refusals_over_socketio() -> None:
    async with run_server() as srv:
        for case in ("missing", "malformed", "expired", "alg none", "other key", "other audience"):
            tok, code = refused_tokens()[case]
            c = socketio.AsyncClient(serializer="msgpack", reconnection=False)
            errors: list[Any] = []
            c.on("connect_error", lambda data: errors.append(data))
            auth = None if tok is None else {"token": tok}
            with pytest.raises(socketio.exceptions.ConnectionError):
                await c.connect(srv.url, auth=auth, transports=["websocket"], wait_timeout=5)
            await c.disconnect()
            assert errors, case
            assert errors[0]["data"] == {"code": code, "message": errors[0]["data"]["message"]}
            assert errors[0]["message"] == errors[0]["data"]["message"]


def test_token_command_mints_a_verifiable_token() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "live.cli", "token", "--space", "sp", "--role", "teacher",
         "--name", "Ms T", "--sub", "t1", "--ttl", "60"],
        cwd=ROOT, env={"LIVE_JWT_SECRET": SECRET, "PATH": ""}, capture_output=True, text=True,
        check=True,
    )
    who = Verifier(SECRET).verify(out.stdout.strip())
    assert (who.space, who.role.value, who.name, who.sub) == ("sp", "teacher", "Ms T", "t1")
    exp = jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert exp["exp"] - exp["iat"] == 60


def test_a_verifier_refuses_every_case_after_accepting_good_tokens() -> None:
    """The secret's checks are made once per secret (`PreparedHMAC`): a verifier that
    accepted tokens refuses each refused case as a fresh one does, and accepts again."""
    v = Verifier(SECRET)
    assert v.verify(hs(claims())).sub == "u1"
    for case, (tok, code) in refused_tokens().items():
        with pytest.raises(TokenRefused) as refused:
            v.verify(tok)
        assert refused.value.code == code, case
    assert v.verify(hs(claims())).sub == "u1"


def test_a_secret_that_is_an_asymmetric_key_is_refused_every_time() -> None:
    """PyJWT refuses an HMAC secret that is a public key (HS/RS confusion); kept per
    secret, that refusal must still come for every token, not only the first."""
    import hashlib
    import hmac
    head_body = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims())
    sig = hmac.new(RSA_PUB.encode(), head_body.encode(), hashlib.sha256).digest()
    signed = head_body + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    v = Verifier(RSA_PUB)
    for _ in range(2):
        with pytest.raises(TokenRefused):
            v.verify(signed)


def test_segments_are_checked_as_pyjwt_checks_them() -> None:
    """`SegmentCheckedJWS` (one regular expression for the alphabet) refuses and decodes
    every segment exactly as PyJWT's own check: same bytes, or the same error."""
    import random

    from jwt.api_jws import PyJWS

    from live.tokens import SegmentCheckedJWS

    def verdict(check: Any, segment: bytes) -> tuple[str, Any]:
        try:
            return "ok", check(segment, "payload")
        except jwt.DecodeError as e:
            return "refused", str(e)

    good = hs(claims()).encode().split(b".")
    cases = [*good, b"", b"=", b"==", b"===", b"A", b"AA", b"AA=", b"AA==", b"AAA=", b"AB==",
             b"AQ==", b"AR", b"!!!!", b"ab+/", b"ab\ncd", b"abcd\n", b"ab cd", b"\xc3\xa9abc",
             b"YWJj", b"YWJjZA", b"YWJjZA=", b"YWJjZA==", b"YWJjZB", b"_-_-", b"a=b="]
    rng = random.Random(7)
    alphabet = b"ABCXYZabcxyz0189-_=+/!. \n\x00\xff"
    cases += [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 13)))
              for _ in range(3000)]
    for segment in cases:
        assert verdict(SegmentCheckedJWS._decode_base64url_segment, segment) == verdict(
            PyJWS._decode_base64url_segment, segment), segment
