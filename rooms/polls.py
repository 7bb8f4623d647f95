"""Polls: what a poll is, what a valid vote is, and how votes become counts.

Votes are kept per voter so a member may vote again (the new vote replaces the
old). In an anonymous poll the voter is kept only as a keyed hash
(`voter_key`): HMAC-SHA256 under a key the service processes share and the
store never holds (derived from the token secret, `Classroom.pepper`), of the
poll's salt and the user id. Someone who reads the store - every key and value
in Redis - has the salt but not the key, so cannot compute any member's hash
and link a vote to a member; teachers never see voters either. A named poll
keeps the voter's id and name, shown to teachers only (`to_wire(voters=True)`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import BadRequest

MIN_OPTIONS = 2
MAX_OPTIONS = 10
MAX_QUESTION = 300
MAX_OPTION = 200
MAX_OPEN_POLLS = 20


@dataclass(frozen=True, slots=True)
class Vote:
    choices: tuple[int, ...]
    name: str | None = None  # the voter's display name, named polls only

    def to_record(self) -> dict[str, Any]:
        return {"c": list(self.choices), "n": self.name}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Vote:
        return cls(tuple(int(c) for c in rec["c"]), rec.get("n"))


@dataclass(frozen=True, slots=True)
class Poll:
    id: str
    question: str
    options: tuple[str, ...]
    multiple: bool
    anonymous: bool
    ts: int
    by: str  # the teacher who created it
    salt: str  # keys anonymous voters; never leaves the store
    open: bool = True
    votes: dict[str, Vote] = field(default_factory=dict)  # voter key -> vote

    def voter_key(self, user: str, pepper: bytes) -> str:
        """The key `user`'s vote is kept under: the id (named polls) or a hash under
        `pepper` (anonymous ones; see the module's docstring)."""
        if not self.anonymous:
            return user
        msg = f"{self.salt}\x00{user}".encode()
        return hmac.new(pepper, msg, hashlib.sha256).hexdigest()[:32]

    def counts(self) -> list[int]:
        counts = [0] * len(self.options)
        for vote in self.votes.values():
            for c in vote.choices:
                if 0 <= c < len(counts):
                    counts[c] += 1
        return counts

    def mine(self, user: str, pepper: bytes) -> list[int]:
        vote = self.votes.get(self.voter_key(user, pepper))
        return list(vote.choices) if vote else []

    def with_votes(self, votes: dict[str, Vote], open_: bool | None = None) -> Poll:
        return replace(self, votes=votes, open=self.open if open_ is None else open_)

    def to_wire(self, voters: bool = False) -> dict[str, Any]:
        """`{id, question, options, multiple, anonymous, open, counts, voted}`; with
        `voters` (for teachers only), a named poll adds `voters` per option. An
        anonymous poll never has them."""
        wire: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "options": list(self.options),
            "multiple": self.multiple,
            "anonymous": self.anonymous,
            "open": self.open,
            "counts": self.counts(),
            "voted": len(self.votes),
        }
        if voters and not self.anonymous:
            wire["voters"] = self.voters()
        return wire

    def voters(self) -> list[list[dict[str, str]]]:
        """Who chose each option of a named poll (`[]` each for an anonymous one)."""
        out: list[list[dict[str, str]]] = [[] for _ in self.options]
        if self.anonymous:
            return out
        for user, vote in sorted(self.votes.items()):
            for c in vote.choices:
                if 0 <= c < len(out):
                    out[c].append({"id": user, "name": vote.name or user})
        return out

    def to_record(self) -> dict[str, Any]:
        return {"q": self.question, "o": list(self.options), "m": self.multiple,
                "a": self.anonymous, "ts": self.ts, "by": self.by, "s": self.salt}

    @classmethod
    def from_record(cls, poll_id: str, rec: dict[str, Any], open_: bool,
                    votes: dict[str, Vote]) -> Poll:
        return cls(poll_id, str(rec["q"]), tuple(str(o) for o in rec["o"]), bool(rec["m"]),
                   bool(rec["a"]), int(rec["ts"]), str(rec["by"]), str(rec["s"]), open_, votes)


def new_poll(question: object, options: object, multiple: object, anonymous: object,
             by: str, now_ms: int) -> Poll:
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("question must be a non-empty string")
    if len(question.strip()) > MAX_QUESTION:
        raise BadRequest(f"question is longer than {MAX_QUESTION} characters")
    if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise BadRequest(f"options must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} strings")
    cleaned: list[str] = []
    for o in options:
        if not isinstance(o, str) or not o.strip():
            raise BadRequest("every option must be a non-empty string")
        if len(o.strip()) > MAX_OPTION:
            raise BadRequest(f"an option is longer than {MAX_OPTION} characters")
        cleaned.append(o.strip())
    for name, flag in (("multiple", multiple), ("anonymous", anonymous)):
        if flag is not None and not isinstance(flag, bool):
            raise BadRequest(f"{name} must be true or false")
    poll_id = f"{now_ms:x}{secrets.token_hex(4)}"
    return Poll(poll_id, question.strip(), tuple(cleaned), bool(multiple), bool(anonymous),
                now_ms, by, secrets.token_hex(16))


def check_choices(poll: Poll, choices: object) -> tuple[int, ...]:
    """Valid option indexes: exactly one unless the poll is `multiple`."""
    if not isinstance(choices, list) or not choices:
        raise BadRequest("choices must be a non-empty list of option indexes")
    out: list[int] = []
    for c in choices:
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < len(poll.options):
            raise BadRequest("choices must be option indexes of this poll")
        if c in out:
            raise BadRequest("an option is chosen twice")
        out.append(c)
    if not poll.multiple and len(out) != 1:
        raise BadRequest("this poll takes exactly one choice")
    return tuple(sorted(out))


def check_poll_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isalnum():
        raise BadRequest("poll must be a poll id")
    return value
