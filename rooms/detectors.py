"""Detectors of what pupils must not exchange: phone numbers, e-mail addresses,
social media handles, links outside the space's allowed domains.

Each detector reads text already folded (`rooms/textfold.py`: lower case, no
accents, full-width digits made plain) and says whether it found one; none
keeps or returns what it found (pupils' words are never logged). They are
plain compiled regular expressions, built once per process, run on the event loop:
a pattern must not backtrack in proportion to the text's length squared (the e-mail
patterns did until 2026-11-28: a crafted 2,000-character message held the loop ~220
ms; the link pattern until 2026-11-28 too, ~0.1 s; tests/test_filter_rules.py bounds
such messages; loadtests/README.md, "Instructions per message, and the safeguarding
filter's cost").

What each one takes for a hit, and what it leaves alone on purpose:
- phone: 8 to 15 digits in a row, with at most one separator (space, dot, dash,
  slash, parentheses) between two of them, a leading `+` or `00` allowed; also 8
  or more digits written as words in a row (en, de, fr, es, it, nl, pt). Dates
  (27.11.2026), year ranges (2025-2026) and times are not numbers to call.
- email: `name@domain.tld`, and the spelled-out forms `name at domain dot com`,
  `name (at) domain (dot) com`, `name [at] domain.com`, `arroba`, `chiocciola`.
- handle: `@name` (not inside an address); a platform's name followed by `:`,
  `=` and a name (`insta: ana`, `snap = x`), or "is" and a name with a digit,
  `_` or `.` (`my snap is ana_12`); an invitation to write or follow shortly
  before a platform's name (`add me on snap`, `folg mir auf insta`, `ajoute-moi
  sur snap`); a messaging platform with "my" (`mein insta`, `mon snap`); the
  question "do you have snap/insta/..." in several languages. A platform named
  in passing ("I watched a tiktok video", "insta is fun") is not a handle.
- link: `http(s)://...`, `www....`, a bare domain with a common top-level domain
  (`site.com`, `x.de/page`; a top-level domain that is also a word, such as
  `.it` or `.me`, only with a path: "did it.it was fun" is no link), and
  `site dot com`; allowed when the domain is one of the space's allowed
  domains or under one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TLDS = ("com|net|org|info|io|co|me|tv|ly|gg|app|xyz|online|site|eu|de|fr|es|it|nl|pl|pt|"
         "uk|ie|at|be|ch|cz|sk|dk|se|fi|no|ee|lv|lt|gr|bg|ro|hr|si|hu|mt|tr|ua|ru|lu|cy")

_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d(?:[ .\-/()]{0,2}\d){7,14}(?![\w])")
_DATE = re.compile(r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}")
_YEARS = re.compile(r"(?:19|20)\d\d\s?[\-/]\s?(?:19|20)?\d\d")
_DIGIT_WORDS = frozenset({
    # en, de, fr, es, it, nl, pt (folded)
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "null", "eins", "zwei", "drei", "vier", "funf", "sechs", "sieben", "acht", "neun",
    "un", "deux", "trois", "quatre", "cinq", "sept", "huit", "neuf",
    "cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
    "due", "tre", "quattro", "sei", "sette", "otto", "nove",
    "nul", "een", "twee", "drie", "vijf", "zes", "zeven", "negen",
    "um", "dois", "quatro", "sete", "oito",
})
_WORDS = re.compile(r"[a-z]+")

# An address's name is tried only from the start of a run of name characters, and
# taken whole (`++`, `{2,}+`: what follows a name, `@`, a space or a bracket, is never
# one of them, so giving characters back could not make a match): without both, a
# message with "at" in it cost ~20 us here, the regex engine retrying every suffix of
# every word (loadtests/README.md, "Instructions per message, and the safeguarding
# filter's cost"). The same matches.
_NAME = r"(?<![\w.+\-])[\w.+\-]"
_EMAIL = re.compile(rf"{_NAME}++@[\w\-]+(?:\.[\w\-]+)+")
_AT = r"(?:\s*@\s*|\s*[(\[{<]\s*(?:at|@)\s*[)\]}>]\s*)"
_AT_WORD = r"\s+(?:at|arroba|chiocciola)\s+"
_DOT_NAMES = "dot|punto|punkt|point"  # a dot spelled out
_DOT_WORD = (rf"(?:\s*[(\[{{<]\s*(?:{_DOT_NAMES})\s*[)\]}}>]\s*"
             rf"|\s+(?:{_DOT_NAMES})\s+)")
_DOT = rf"(?:\s*\.\s*|{_DOT_WORD})"
_MAIL_HOSTS = (r"gmail|googlemail|yahoo|hotmail|outlook|live|icloud|me|gmx|web|aol|proton(?:mail)?|"
               r"orange|free|libero|wp|o2|seznam|mail|yandex|t-online|abv|email")
_SPELLED_EMAIL = re.compile(
    rf"{_NAME}{{2,}}+(?:"
    rf"{_AT}[\w\-]{{2,}}+(?:{_DOT}[\w\-]++)*{_DOT}(?:{_TLDS})\b"
    # "name at domain dot com", or "name at gmail.com": a plain "at" needs a spelled
    # "dot" or a mail host, so that "look at etwinning.net" is a link, not an address
    rf"|{_AT_WORD}[\w\-]{{2,}}+(?:{_DOT}[\w\-]++)*{_DOT_WORD}(?:{_TLDS})\b"
    rf"|{_AT_WORD}(?:{_MAIL_HOSTS}){_DOT}(?:{_TLDS})\b)")

_PLATFORMS = (r"insta(?:gram)?|ig|snap(?:chat)?|sc|tik\s?tok|discord|whats\s?app|telegram|"
              r"signal|facebook|fb|messenger|kik|twitter|threads|youtube|twitch|steam|"
              r"roblox|fortnite|psn|xbox|wechat|viber|bereal")
_AT_HANDLE = re.compile(r"(?<![\w.@])@[a-z0-9_.]{3,30}\b")
_MESSAGING = (r"insta(?:gram)?|ig|snap(?:chat)?|tik\s?tok|discord|whats\s?app|telegram|"
              r"signal|messenger|kik|wechat|viber")
# `insta: ana` (any name after `:` / `=`), `my snap is ana_12` (a name with a digit, `_` or `.`)
_NAMED_HANDLE = re.compile(
    rf"\b(?:{_PLATFORMS})\b\s*(?:[:=]|->)\s*@?[\w.]{{3,30}}"
    rf"|\b(?:{_PLATFORMS})\b\s+(?:is|ist|est|jest|=)\s+@?[\w.]*[\d_.][\w.]*")
# an invitation shortly before a platform's name
_INVITE = re.compile(
    r"\b(?:add|follow|dm|text|write|message|msg|call|find|contact|hit)\s+me\b"
    r"|\bfolg(?:e)? mir\b|\bschreib(?:e)? mir\b|\badde? mich\b|\bajoute[ -]?moi\b"
    r"|\bsuis[ -]moi\b|\becris[ -]moi\b|\bagregame\b|\bsigueme\b|\bescribeme\b|\bseguimi\b"
    r"|\bscrivimi\b|\baggiungimi\b|\bvolg me\b|\bvoeg me toe\b|\bdodaj mnie\b|\bnapisz\b"
    r"|\bsegue-me\b|\bme segue\b|\bme adiciona\b")
_POSSESSIVE = re.compile(
    rf"\b(?:my|mein(?:e|en)?|mon|ma|mi|il mio|mijn|moj|meu|min)\s+(?:{_MESSAGING})\b")
_PLATFORM = re.compile(rf"\b(?:{_PLATFORMS})\b")
_ASK = re.compile(
    rf"\b(?:do you have|have you got|u got|you got|are you on|hast du|bist du auf|as[ -]tu|"
    rf"t'as|tu as|tienes|estas en|hai|sei su|heb je|zit je op|masz|tens|tem)\s+(?:an?\s+|un\s+|"
    rf"una?\s+|einen?\s+)?(?:{_PLATFORMS})\b")

# top-level domains that are also words ("did it.it was"): bare, only with a path
_WORDLIKE_TLDS = "it|at|be|me|no|es|si|tv|co"

# A host is tried from where a leftmost match would first try it, and not again from
# each later label (or hyphen) of the same run: a later start reaches only the
# top-level domains an earlier one reached, and the earlier one, failing, had tried
# them all (or, matching, the match ended where none after it could). Without this, a
# 2,000-character "a.a.a.…" held the loop ~0.1 s (a try from each of 1,000 labels, each
# backtracking through the rest of the run); the same matches, the same ends: tests/
# test_filter_rules.py runs the pattern from before beside this one on random runs of
# labels, dots, hyphens, spaces and marks.
#
# "An earlier start" is one Python's fixed-width look-behinds can see: up to _WINDOW
# characters back, a letter or digit after a mark (or at the text's start), or a
# hyphen after a letter or digit (where `\b` holds, so the engine tried there), with
# only host characters between. A start after a space does not count: a match of
# "name dot com" may have taken it, and ended inside the run. For "name dot com"
# itself (a single label), a start after a dot does not count either: a host's match
# may end inside the label ("a.com-x dot com"). Labels longer than _WINDOW are
# tried from each start as before (at most one start every _WINDOW characters).
_WINDOW = 16
_IN_HOST = r"(?:[a-z0-9\-]|\.(?!\.))"  # a host's character; two dots end a run
_IN_LABEL = r"[a-z0-9\-]"


def _after_no_earlier_start(between: str, marks: str) -> str:
    """Look-behinds that fail where an earlier start, then `between`s, lead here."""
    return "".join(
        rf"(?<!(?:[^\w\s{marks}][a-z0-9]|[a-z0-9]-){between * w})"
        rf"(?<!^[a-z0-9]{between * w})" for w in range(_WINDOW))


# (atomic: the quick test first, and no second try of the look-behinds on failure)
_HOST_START = (rf"\b(?=[a-z0-9\-])(?>(?<![a-z0-9.\-])"
               rf"|{_after_no_earlier_start(_IN_HOST, '')})")
_LABEL_START = (rf"\b(?=[a-z0-9\-])(?>(?<![a-z0-9\-])"
                rf"|{_after_no_earlier_start(_IN_LABEL, '.')})")
# a label is taken whole (`++`): a dot follows it, and a dot is not one of its characters
_LINK = re.compile(
    rf"(?:https?://|www\.)[^\s]+"
    rf"|{_HOST_START}(?:(?:[a-z0-9\-]++\.)+(?:{_WORDLIKE_TLDS})/[^\s]*"
    rf"|(?:[a-z0-9\-]++\.)+(?!(?:{_WORDLIKE_TLDS})\b)(?:{_TLDS})\b(?:/[^\s]*)?)"
    rf"|{_LABEL_START}[a-z0-9\-]{{2,}}+\s+(?:{_DOT_NAMES})\s+(?:{_TLDS})\b")
_HOST = re.compile(r"^(?:https?://)?([^/\s:?#]+)")
_SPELLED_DOT = re.compile(rf"\s+(?:{_DOT_NAMES})\s+")


_EIGHT_DIGITS = re.compile(r"\d(?:\D{0,3}\d){7}")
_AT_HINT = re.compile(r"\bat\b|arroba|chiocciola")  # (a text with "@" needs no hint)
# without "@", a spelled address needs a bracket ("(at)"), a spelled dot, or a dot and a
# top-level domain ("at gmail.com"): "see you at school." has none of them
_SPELLED_HINT = re.compile(rf"[(\[{{<]|\.\s*[a-z]|{_DOT_NAMES}")
_LINK_HINT = re.compile(rf"\.[a-z]|\s(?:{_DOT_NAMES})\s")


def has_phone(folded: str) -> bool:
    if _EIGHT_DIGITS.search(folded) is None:
        return _has_spelled_phone(folded)
    for m in _PHONE.finditer(folded):
        digits = sum(c.isdigit() for c in m.group(0))
        if not 8 <= digits <= 15:
            continue
        text = m.group(0).strip()
        if _DATE.fullmatch(text) or _YEARS.fullmatch(text):
            continue
        return True
    return _has_spelled_phone(folded)


def _has_spelled_phone(folded: str) -> bool:
    found = _WORDS.findall(folded)
    if len(found) < 8 or _DIGIT_WORDS.isdisjoint(found):  # (most messages: no loop)
        return False
    run = 0
    for w in found:
        run = run + 1 if w in _DIGIT_WORDS else 0
        if run >= 8:
            return True
    return False


def has_email(folded: str) -> bool:
    at = "@" in folded
    if not at:
        # the hint's words as plain substrings first: most messages have none of them
        if "at" not in folded and "arroba" not in folded and "chiocciola" not in folded:
            return False
        if _AT_HINT.search(folded) is None or _SPELLED_HINT.search(folded) is None:
            return False
    return bool(at and _EMAIL.search(folded)) or _SPELLED_EMAIL.search(folded) is not None


def has_handle(folded: str) -> bool:
    if "@" not in folded and _PLATFORM.search(folded) is None:
        return False
    text = _EMAIL.sub(" ", folded) if "@" in folded else folded
    if (_AT_HANDLE.search(text) or _NAMED_HANDLE.search(text) or _ASK.search(text)
            or _POSSESSIVE.search(text)):
        return True
    for m in _PLATFORM.finditer(text):
        before = text[max(0, m.start() - 30):m.start()]
        if _INVITE.search(before):
            return True
    return False


def _host(link: str) -> str:
    link = link.removeprefix("www.") if link.startswith("www.") else link
    m = _HOST.match(link)
    host = (m.group(1) if m else link).rstrip(".,;:!?)")
    return _SPELLED_DOT.sub(".", host).removeprefix("www.")


def has_link(folded: str, allowed: Iterable[str] = ()) -> bool:
    """A link whose host is not an allowed domain (nor under one)."""
    if _LINK_HINT.search(folded) is None:
        return False
    text = _SPELLED_EMAIL.sub(" ", _EMAIL.sub(" ", folded)) if has_email(folded) else folded
    allowed = tuple(allowed)
    for m in _LINK.finditer(text):
        host = _host(m.group(0))
        if not any(host == d or host.endswith("." + d) for d in allowed):
            return True
    return False
