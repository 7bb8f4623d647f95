"""Polls: what a poll is, what a valid vote is, and how votes become counts.

Kinds (`kind`, docs/protocol.md "Polls"):
- `choice` (the default, contract v2): options, a vote picks option indexes.
- `quiz`: a choice poll with its `correct` option index(es), set at creation and
  shown to teachers only until a teacher reveals it (`revealed`); revealing
  closes the poll. Scores per member (`scores`) cover named quizzes only.
- `text`: an open answer (`text`, up to `MAX_TEXT` characters) per member, seen by
  teachers only until a teacher publishes some or all of them: a published answer
  is copied into the poll (`published`), text only, never its author.
- `cloud`: a word cloud, answers of 1 to `MAX_CLOUD_WORDS` words, folded
  (rooms/textfold.py: case, accents) and counted (`cloud`: `[[word, count]]`).
Any kind may be `hidden`: members who are not teachers see no counts (`counts`
and `cloud` empty) until the poll is closed; teachers see them live.
`public_view` says whether a poll's wire differs between teachers and the others
(then its events go to each as their own view: rooms/classroom.py).

Votes are kept per voter so a member may vote again (the new vote replaces the
old). In an anonymous poll the voter is kept only as a keyed hash
(`voter_key`): HMAC-SHA256 under a key the service processes share and the
store never holds (derived from the token secret, `Classroom.pepper`), of the
poll's salt and the user id. Someone who reads the store - every key and value
in Redis - has the salt but not the key, so cannot compute any member's hash
and link a vote to a member; teachers never see voters either. A named poll
keeps the voter's id and name, shown to teachers only (`to_wire(teacher=True)`).
This holds for every kind: an anonymous text or cloud answer is kept under the
hash, with no name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import BadRequest
from .textfold import fold

MIN_OPTIONS = 2
MAX_OPTIONS = 10
MAX_QUESTION = 300
MAX_OPTION = 200
MAX_OPEN_POLLS = 20
MAX_TEXT = 280
MAX_CLOUD = 40  # characters of a word-cloud answer
MAX_CLOUD_WORDS = 3
MAX_CLOUD_SHOWN = 100  # words in a cloud's wire, most chosen first
KINDS = ("choice", "quiz", "text", "cloud")
TEXT_KINDS = ("text", "cloud")


@dataclass(frozen=True, slots=True)
class Vote:
    choices: tuple[int, ...]
    name: str | None = None  # the voter's display name, named polls only
    text: str | None = None  # a text or cloud answer
    flagged: bool = False  # the space's filter flagged the text (teachers see it)

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"c": list(self.choices), "n": self.name}
        if self.text is not None:
            rec["t"] = self.text
        if self.flagged:
            rec["f"] = 1
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Vote:
        text = rec.get("t")
        return cls(tuple(int(c) for c in rec["c"]), rec.get("n"),
                   None if text is None else str(text), bool(rec.get("f")))


def answer_id(voter: str) -> str:
    """The id teachers pick a text answer by: a digest of the voter's key, so that an
    anonymous answer's id is no key of the store either."""
    return hashlib.sha256(voter.encode()).hexdigest()[:16]


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
    kind: str = "choice"
    correct: tuple[int, ...] = ()  # quiz: the right option(s)
    hidden: bool = False
    revealed: bool = False  # quiz: the correct answer is shown to everyone
    published: tuple[str, ...] = ()  # text: answers a teacher published, text only

    def voter_key(self, user: str, pepper: bytes) -> str:
        """The key `user`'s vote is kept under: the id (named polls) or a hash under
        `pepper` (anonymous ones; see the module's docstring)."""
        if not self.anonymous:
            return user
        msg = f"{self.salt}\x00{user}".encode()
        return hmac.new(pepper, msg, hashlib.sha256).hexdigest()[:32]

    @property
    def public_view(self) -> bool:
        """Whether the others see less than teachers beyond voters: a hidden poll, a
        quiz before its reveal, a text poll, a named word cloud (who gave which word)."""
        return (self.hidden or self.kind == "text" or (self.kind == "quiz" and not self.revealed)
                or (self.kind == "cloud" and not self.anonymous))

    def counts(self) -> list[int]:
        counts = [0] * len(self.options)
        for vote in self.votes.values():
            for c in vote.choices:
                if 0 <= c < len(counts):
                    counts[c] += 1
        return counts

    def cloud(self) -> list[list[Any]]:
        """`[[word, count]]`, most chosen first (ties by word), at most MAX_CLOUD_SHOWN."""
        counts: dict[str, int] = {}
        for vote in self.votes.values():
            if vote.text:
                counts[vote.text] = counts.get(vote.text, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [[w, n] for w, n in ranked[:MAX_CLOUD_SHOWN]]

    def mine(self, user: str, pepper: bytes) -> list[int]:
        vote = self.votes.get(self.voter_key(user, pepper))
        return list(vote.choices) if vote else []

    def mine_text(self, user: str, pepper: bytes) -> str | None:
        vote = self.votes.get(self.voter_key(user, pepper))
        return vote.text if vote else None

    def right(self, vote: Vote) -> bool:
        return self.kind == "quiz" and vote.choices == self.correct

    def with_votes(self, votes: dict[str, Vote], open_: bool | None = None) -> Poll:
        return replace(self, votes=votes, open=self.open if open_ is None else open_)

    def to_wire(self, teacher: bool = False) -> dict[str, Any]:
        """`{id, question, options, multiple, anonymous, open, counts, voted, kind, hidden}`
        and per kind `correct` and `revealed` (quiz), `answers` (text), `cloud`. For the
        others: no counts of a hidden open poll, no `correct` before the reveal, only the
        published answers. For teachers (`teacher`): everything, and a named poll adds
        `voters` per option (and the author of each answer); an anonymous one never."""
        withheld = self.hidden and self.open and not teacher
        wire: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "options": list(self.options),
            "multiple": self.multiple,
            "anonymous": self.anonymous,
            "open": self.open,
            "counts": [] if withheld else self.counts(),
            "voted": len(self.votes),
            "kind": self.kind,
            "hidden": self.hidden,
        }
        if self.kind == "quiz":
            wire["revealed"] = self.revealed
            if teacher or self.revealed:
                wire["correct"] = list(self.correct)
        if self.kind == "cloud":
            wire["cloud"] = [] if withheld else self.cloud()
        if self.kind == "text":
            wire["answers"] = self.answers() if teacher else list(self.published)
        if teacher and not self.anonymous and self.kind in ("choice", "quiz"):
            wire["voters"] = self.voters()
        if teacher and not self.anonymous and self.kind == "cloud":
            wire["answers"] = self.answers()
        return wire

    def answers(self) -> list[dict[str, Any]]:
        """Text answers for teachers: `{id, text, flagged, published}` (and `user`, `name`
        in a named poll), oldest voter key first."""
        out: list[dict[str, Any]] = []
        shown = set(self.published)
        for key, vote in sorted(self.votes.items()):
            if vote.text is None:
                continue
            a: dict[str, Any] = {"id": answer_id(key), "text": vote.text,
                                 "flagged": vote.flagged, "published": vote.text in shown}
            if not self.anonymous:
                a.update(user=key, name=vote.name or key)
            out.append(a)
        return out

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
        rec: dict[str, Any] = {"q": self.question, "o": list(self.options), "m": self.multiple,
                               "a": self.anonymous, "ts": self.ts, "by": self.by,
                               "s": self.salt}
        if self.kind != "choice":
            rec["k"] = self.kind
        if self.correct:
            rec["cor"] = list(self.correct)
        if self.hidden:
            rec["h"] = 1
        if self.revealed:
            rec["rv"] = 1
        if self.published:
            rec["pub"] = list(self.published)
        return rec

    @classmethod
    def from_record(cls, poll_id: str, rec: dict[str, Any], open_: bool,
                    votes: dict[str, Vote]) -> Poll:
        return cls(poll_id, str(rec["q"]), tuple(str(o) for o in rec["o"]), bool(rec["m"]),
                   bool(rec["a"]), int(rec["ts"]), str(rec["by"]), str(rec["s"]), open_, votes,
                   str(rec.get("k", "choice")), tuple(int(c) for c in rec.get("cor", ())),
                   bool(rec.get("h")), bool(rec.get("rv")),
                   tuple(str(t) for t in rec.get("pub", ())))


def new_poll(question: object, options: object, multiple: object, anonymous: object,
             by: str, now_ms: int, kind: object = None, correct: object = None,
             hidden: object = None) -> Poll:
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("question must be a non-empty string")
    if len(question.strip()) > MAX_QUESTION:
        raise BadRequest(f"question is longer than {MAX_QUESTION} characters")
    if kind is None:
        kind = "choice"
    if kind not in KINDS:
        raise BadRequest("kind must be one of " + ", ".join(KINDS))
    for name, flag in (("multiple", multiple), ("anonymous", anonymous), ("hidden", hidden)):
        if flag is not None and not isinstance(flag, bool):
            raise BadRequest(f"{name} must be true or false")
    cleaned: list[str] = []
    if kind in TEXT_KINDS:
        if options not in (None, []):
            raise BadRequest(f"a {kind} poll has no options")
        if multiple:
            raise BadRequest(f"a {kind} poll takes one answer")
    else:
        if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise BadRequest(f"options must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} strings")
        for o in options:
            if not isinstance(o, str) or not o.strip():
                raise BadRequest("every option must be a non-empty string")
            if len(o.strip()) > MAX_OPTION:
                raise BadRequest(f"an option is longer than {MAX_OPTION} characters")
            cleaned.append(o.strip())
    right: tuple[int, ...] = ()
    if kind == "quiz":
        probe = Poll("", "", tuple(cleaned), bool(multiple), False, 0, "", "")
        try:
            right = check_choices(probe, correct)
        except BadRequest:
            raise BadRequest("correct must be the right option index(es) of the quiz: "
                             "exactly one unless multiple") from None
    elif correct is not None:
        raise BadRequest("only a quiz has a correct answer")
    poll_id = f"{now_ms:x}{secrets.token_hex(4)}"
    return Poll(poll_id, question.strip(), tuple(cleaned), bool(multiple), bool(anonymous),
                now_ms, by, secrets.token_hex(16), kind=kind, correct=right,
                hidden=bool(hidden))


def check_choices(poll: Poll, choices: object) -> tuple[int, ...]:
    """Valid option indexes: exactly one unless the poll is `multiple`."""
    if poll.kind in TEXT_KINDS:
        raise BadRequest(f"a {poll.kind} poll takes a text answer, not choices")
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


def check_text(poll: Poll, text: object) -> str:
    """A text answer as kept: trimmed (text), or folded to its words (cloud)."""
    if poll.kind not in TEXT_KINDS:
        raise BadRequest("this poll takes choices, not a text answer")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text must be a non-empty string")
    if poll.kind == "text":
        if len(text.strip()) > MAX_TEXT:
            raise BadRequest(f"an answer is longer than {MAX_TEXT} characters")
        return text.strip()
    words = fold(text).split()
    if not 1 <= len(words) <= MAX_CLOUD_WORDS:
        raise BadRequest(f"a word-cloud answer is 1 to {MAX_CLOUD_WORDS} words")
    folded = " ".join(words)
    if len(folded) > MAX_CLOUD:
        raise BadRequest(f"a word-cloud answer is at most {MAX_CLOUD} characters")
    return folded


def check_poll_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isalnum():
        raise BadRequest("poll must be a poll id")
    return value


def scores(quizzes: list[Poll]) -> list[dict[str, Any]]:
    """Per member over the named, revealed quizzes given: `{id, name, right, answered}`,
    most right first (ties by name). Anonymous quizzes are never scored."""
    by_user: dict[str, dict[str, Any]] = {}
    for quiz in quizzes:
        if quiz.kind != "quiz" or quiz.anonymous or not quiz.revealed:
            continue
        for user, vote in quiz.votes.items():
            row = by_user.setdefault(user, {"id": user, "name": vote.name or user,
                                            "right": 0, "answered": 0})
            row["answered"] += 1
            row["right"] += int(quiz.right(vote))
    return sorted(by_user.values(), key=lambda r: (-r["right"], str(r["name"]), r["id"]))
