"""Word lists of the 27 UI languages, one `<lang>.txt` per language beside this file.

Sources (see NOTICE): LDNOOBW (CC BY 4.0) for the languages it covers, imported
and changed by `scripts/import-wordlists`; short seed lists written by this
project (CC0) for the others. One entry a line, `#` starts a comment; an entry
of several words is a phrase. Entries are folded as messages are
(`rooms/textfold.fold`) when loaded, so a list may be written with accents.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..textfold import fold

HERE = Path(__file__).resolve().parent
LANGUAGES = ("ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu",
             "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv", "tr", "uk")


def entry(word: str) -> str:
    """A list entry or a teacher's word as the filter compares it: folded, one space
    between the words of a phrase."""
    return " ".join(fold(word).split())


@cache
def words(lang: str) -> frozenset[str]:
    """The folded entries of one language's list."""
    if lang not in LANGUAGES:
        raise ValueError(f"no word list for {lang!r}")
    lines = (HERE / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(e for line in lines if not line.startswith("#") and (e := entry(line)))
