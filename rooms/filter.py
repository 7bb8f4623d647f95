"""A space's message filter: its rules (`FilterConfig`) and the compiled check.

Transport-free, no I/O. Five rules, each with an action:
- `words`: the word lists of the chosen languages (rooms/wordlists), plus the
  words the space's teachers added, less those they removed;
- `phone`, `email`, `handle`, `link`: the detectors of rooms/detectors.py
  (`link` lets the space's `allowed_domains` through).
Actions, weakest first: `off`; `flag` (delivered, and the space's teachers are
told); `hold` (kept from the room until a teacher releases or refuses it);
`block` (refused; the sender is told which rule). When several rules match, the
strongest action wins and every matching rule is named.

A space nobody configured has `FilterConfig.default()`. `compiled(config)`
builds the check once per distinct config (cached): the word set of the
chosen languages is a frozenset, so `check` costs one fold of the text, a set
lookup per word (and per variant, rooms/textfold.py), and the detectors'
regular expressions. A compiled filter remembers its verdict on the last
`MAX_SEEN` distinct words, so a word seen before costs one set lookup instead
of its variants (about 3 us for a word with digits, a swap or a repeat), and the
words it found clean are set aside together, by one set difference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import detectors
from .errors import BadRequest
from .textfold import disguised, fold, variants, words
from .wordlists import LANGUAGES, entry
from .wordlists import words as list_words

RULES = ("words", "phone", "email", "handle", "link")
ACTIONS = ("off", "flag", "hold", "block")  # weakest first
DEFAULT_ACTIONS: Mapping[str, str] = {"words": "block", "phone": "block", "email": "block",
                                      "handle": "block", "link": "hold"}
DEFAULT_ALLOWED = ("etwinning.net", "europa.eu")
MAX_WORDS = 500
MAX_WORD = 64
MAX_DOMAINS = 50
MAX_SEEN = 2048  # words whose verdict a compiled filter keeps (then it starts again)
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}")


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """A space's filter rules, checked when built (`bad_request`)."""

    actions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    languages: tuple[str, ...] = LANGUAGES
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = DEFAULT_ALLOWED

    def __post_init__(self) -> None:
        if set(self.actions) != set(RULES) or any(a not in ACTIONS
                                                  for a in self.actions.values()):
            raise BadRequest(f"actions must give each of {', '.join(RULES)} one of "
                             f"{', '.join(ACTIONS)}")
        if any(lang not in LANGUAGES for lang in self.languages):
            raise BadRequest("languages must be UI language codes")
        for name in ("added", "removed"):
            listed = getattr(self, name)
            if len(listed) > MAX_WORDS or any(not w or len(w) > MAX_WORD for w in listed):
                raise BadRequest(f"{name} must be at most {MAX_WORDS} words of 1..{MAX_WORD} "
                                 "characters")
        if len(self.allowed_domains) > MAX_DOMAINS or any(
                not _DOMAIN.fullmatch(d) for d in self.allowed_domains):
            raise BadRequest(f"allowed_domains must be at most {MAX_DOMAINS} domain names")

    @classmethod
    def default(cls) -> FilterConfig:
        return cls()

    @classmethod
    def parse(cls, body: object) -> FilterConfig:
        """A config from a teacher's `{actions?, languages?, added?, removed?,
        allowed_domains?}`; what is left out keeps its default."""
        if not isinstance(body, dict):
            raise BadRequest("the filter must be an object")
        unknown = set(body) - {"actions", "languages", "added", "removed", "allowed_domains"}
        if unknown:
            raise BadRequest("unknown filter field")
        actions = body.get("actions", {})
        if not isinstance(actions, dict):
            raise BadRequest("actions must be an object")
        return cls(
            actions={**DEFAULT_ACTIONS, **actions},
            languages=_strings(body, "languages", LANGUAGES, lambda s: s),
            added=_strings(body, "added", (), entry),
            removed=_strings(body, "removed", (), entry),
            allowed_domains=_strings(body, "allowed_domains", DEFAULT_ALLOWED,
                                     lambda s: s.strip().lower().removeprefix("www.")),
        )

    def to_wire(self) -> dict[str, Any]:
        return {"actions": dict(self.actions), "languages": list(self.languages),
                "added": list(self.added), "removed": list(self.removed),
                "allowed_domains": list(self.allowed_domains)}

    def to_record(self) -> dict[str, Any]:
        return self.to_wire()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> FilterConfig:
        return cls(actions=dict(rec["actions"]), languages=tuple(rec["languages"]),
                   added=tuple(rec["added"]), removed=tuple(rec["removed"]),
                   allowed_domains=tuple(rec["allowed_domains"]))

    def key(self) -> tuple[Any, ...]:
        """A hashable form, for the cache of compiled filters."""
        return (tuple(sorted(self.actions.items())), self.languages, self.added, self.removed,
                self.allowed_domains)


def _strings(body: dict[str, Any], name: str, default: tuple[str, ...],
             clean: Any) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    if len(value) > max(MAX_WORDS, MAX_DOMAINS):
        raise BadRequest(f"{name} is too long")
    return tuple(dict.fromkeys(c for v in value if (c := clean(v))))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the filter decided: the strongest action and every rule that matched."""

    action: str
    rules: tuple[str, ...]

    @property
    def reason(self) -> str:
        return ",".join(self.rules)


class CompiledFilter:
    """`check(text)` for one config; build through `compiled`."""

    def __init__(self, config: FilterConfig) -> None:
        self.config = config
        listed: set[str] = set()
        if config.actions["words"] != "off":
            for lang in config.languages:
                listed |= list_words(lang)
        listed = (listed | set(config.added)) - set(config.removed)
        self.single = frozenset(w for w in listed if " " not in w)
        # phrases by their first word: only a word that starts one leads to a phrase test
        self.phrases: dict[str, list[tuple[str, ...]]] = {}
        for p in sorted(w for w in listed if " " in w):
            parts = tuple(p.split())
            self.phrases.setdefault(parts[0], []).append(parts[1:])
        self.active = [(r, a) for r, a in config.actions.items() if a != "off"]
        # the words `_listed` has read, any way, found on the list or not: chat repeats its
        # words, and a word's variants cost several times its lookup
        self._hits: set[str] = set()
        self._clean: set[str] = set()

    def _listed(self, w: str) -> bool:
        """Whether word `w` (folded), read any of its ways, is on the list."""
        if w in self._clean:
            return False
        if w in self._hits:
            return True
        single = self.single
        hit = w in single or (disguised(w) and any(v in single for v in variants(w)))
        if len(self._hits) + len(self._clean) >= MAX_SEEN:
            self._hits.clear()
            self._clean.clear()
        (self._hits if hit else self._clean).add(w)
        return hit

    def _has_words(self, folded: str) -> bool:
        found = words(folded)
        distinct = set(found)
        # the words seen before and found clean are set aside in C: most of a message's
        if any(map(self._listed, distinct - self._clean)):
            return True
        phrases = self.phrases
        if phrases.keys().isdisjoint(distinct):
            return False
        for i, w in enumerate(found):
            for rest in phrases.get(w, ()):
                if tuple(found[i + 1:i + 1 + len(rest)]) == rest:
                    return True
        return False

    def _matches(self, rule: str, folded: str) -> bool:
        if rule == "words":
            return self._has_words(folded)
        if rule == "phone":
            return detectors.has_phone(folded)
        if rule == "email":
            return detectors.has_email(folded)
        if rule == "handle":
            return detectors.has_handle(folded)
        return detectors.has_link(folded, self.config.allowed_domains)

    def check(self, text: str) -> Verdict | None:
        """None if no active rule matches."""
        folded = fold(text)
        hits = [(r, a) for r, a in self.active if self._matches(r, folded)]
        if not hits:
            return None
        action = max((a for _, a in hits), key=ACTIONS.index)
        return Verdict(action, tuple(r for r, _ in hits))


_COMPILED: dict[tuple[Any, ...], CompiledFilter] = {}
MAX_COMPILED = 256


def compiled(config: FilterConfig) -> CompiledFilter:
    """The compiled filter of `config`, built once per distinct config in this process
    (at most `MAX_COMPILED` kept; spaces that share a config share its filter)."""
    key = config.key()
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= MAX_COMPILED:
            _COMPILED.pop(next(iter(_COMPILED)))
        found = _COMPILED[key] = CompiledFilter(config)
    return found
