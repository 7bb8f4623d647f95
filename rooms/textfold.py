"""Folding chat text so that a filter sees through the usual disguises.

`fold` is what every comparison starts from: invisible characters dropped
(Unicode's default-ignorable code points: zero-width spaces and joiners, soft
hyphens, word joiners, bidi marks, variation selectors, the byte-order mark; a
reader sees "sh<ZWSP>it" or a phone number with them inside whole, so the
filter must), and so are enclosing marks (keycaps: "0️⃣6️⃣1️⃣…" is a number);
Unicode compatibility form (NFKD: full-width and styled letters become plain
ones), combining marks (accents, diacritics) dropped, a few letters NFKD keeps
whole spelled out (`ø` -> `o`, `ł` -> `l`, `ß` -> `ss`, ...; styled letters
NFKD leaves whole, such as 🅢, small capitals and ❶, read as plain ones), the
ideographic full stop read as a dot (as browsers read a domain), case folded.

`words` goes on from there for the word lists:
- a run of three or more single characters joined by one separator each
  ("b a d", "b.a.d", "b-a-d", "b*a*d") becomes one word ("bad"), also read
  without its first or its last letter (a one-letter word next to it);
- a word mixing letters with the usual letter-for-digit swaps (0->o, 1->i or l,
  3->e, 4->a, 5->s, 7->t, @->a, $->s), with at least as many letters as swaps,
  is read with the letters put back, both ways for `1` ("t17", "b12" stay
  numbers);
- a letter repeated three times or more is also read once and twice
  ("shiiit" -> "shit", "asss" -> "ass");
- a word mixing Latin letters with Cyrillic or Greek ones that look alike is
  also read all Latin ("kurwа" with a Cyrillic "а").
Each word comes with its variants; a list matches if any variant is on it.
Text in any script folds the same way, so lists and messages compare alike.
"""

from __future__ import annotations

import re
import unicodedata

_LATIN = "abcdefghijklmnopqrstuvwxyz"
# letters NFKD does not take apart
_SPELLED = str.maketrans({
    "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ħ": "h", "Ħ": "h",
    "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ı": "i", "ŀ": "l",
    # styled letters with no compatibility form: negative circled and squared capitals
    # (🅢, 🆂), small capitals. Not the regional indicators that make flags: pupils of
    # partner schools put flags side by side, and 30 pairs of countries' flags read as
    # listed words (Slovakia's and Austria's among them)
    **{chr(0x1F150 + i): c for i, c in enumerate(_LATIN)},
    **{chr(0x1F170 + i): c for i, c in enumerate(_LATIN)},
    **dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘꞯʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnopqrstuvwyz", strict=True)),
    # and digits: the negative, sans-serif and double circled ones (❶ ➀ ➊ ⓵ ⓫ ⓿)
    **{c: str(int(unicodedata.numeric(c))) for c in map(chr, (*range(0x2776, 0x2794),
                                                               *range(0x24EB, 0x2500)))},
})
# which texts have any: one class for those up to U+FFFF, one range over those above (a
# class that mixes them is a list the regex engine walks for each character, ~0.1 us a
# character)
_ASTRAL = [c for c in map(chr, _SPELLED) if c > "\uffff"]
_SPELLED_CHARS = re.compile("[" + "".join(c for c in map(chr, _SPELLED) if c <= "\uffff")
                            + f"]|[{min(_ASTRAL)}-{max(_ASTRAL)}]")
# dropped: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), shown as
# nothing ...
_DROPPED = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
    # and the enclosing marks (a keycap's, a circle's: "0️⃣6️⃣…"), which frame a character
    # without ending a word or a number, and which NFKD keeps, with a combining class of 0
    "\u0488\u0489\u1abe\u20dd-\u20e0\u20e2-\u20e4\ua670-\ua672]+")
# After NFKD, a Latin letter with an accent is an ASCII letter and marks of this block
# (U+034F, the grapheme joiner, is no mark) ...
_MARKS = r"\u0300-\u034e\u0350-\u036f"
_LATIN_MARKS = re.compile(rf"[{_MARKS}]+")
# ... and what else such text holds that folding leaves as it is: Latin-1's signs, the
# general punctuation, the currency signs (« » ¿ ¡ – — ’ “ € ...)
_PLAIN_SIGNS = "".join(
    c for c in map(chr, (*range(0xA0, 0xC0), *range(0x2000, 0x2070), *range(0x20A0, 0x20D0)))
    if not unicodedata.combining(c) and c.casefold() == c == c.lower()
    and not _DROPPED.match(c))
_NOT_LATIN = re.compile(rf"[^\x00-\x7f{_MARKS}{re.escape(_PLAIN_SIGNS)}]")
# Cyrillic and Greek letters that look Latin, read as Latin in a word that mixes scripts
_LOOKALIKE = str.maketrans("абвеiкмнорстухѕјαεικνορτυχ", "abbeikmhopctyxsjaeikvoptux")
LEET = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_CHARS = frozenset(LEET) | {"1"}
_UNLEET = str.maketrans(LEET)  # the swaps put back, but `1` (two ways: `variants`)
_NO_LEET = str.maketrans("", "", "".join(_LEET_CHARS))


def _once(m: re.Match[str]) -> str:
    return m.group(1)


def _twice(m: re.Match[str]) -> str:
    return m.group(1) * 2


_SPACED = re.compile(r"(?<![\w@$])(?:[\w@$][\s.\-_*+,/|~]){2,}[\w@$](?![\w@$])")
_SPACED_HINT = re.compile(r"(?:^|[^\w@$])[\w@$][\s.\-_*+,/|~][\w@$][\s.\-_*+,/|~][\w@$]")
_WORD = re.compile(r"[\w@$]+")
_REPEAT = re.compile(r"(\w)\1{2,}")


def fold(text: str) -> str:
    """No invisible characters, compatibility form, no combining marks, case folded."""
    if text.isascii():
        # the same, at a fortieth of the cost: NFKD, the spelled-out letters and the
        # combining marks leave ASCII alone, and casefold is lower there
        return text.lower()
    if _SPELLED_CHARS.search(text) is not None:  # (translating costs ~0.1 us a character)
        text = text.translate(_SPELLED)
    decomposed = unicodedata.normalize("NFKD", text)
    if _NOT_LATIN.search(decomposed) is None:
        # the marks dropped in C (the loop below costs ~0.1 us a character); on what is
        # left, casefold is lower
        return _LATIN_MARKS.sub("", decomposed).lower()
    # (the invisible characters are not among the signs above: they come here; so does
    # the ideographic full stop, a dot in an address bar as in IDNA: "evil。com")
    decomposed = _DROPPED.sub("", decomposed).replace("\u3002", ".")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _unspaced(folded: str, edges: list[str]) -> str:
    def join(m: re.Match[str]) -> str:
        joined = re.sub(r"[\s.\-_*+,/|~]", "", m.group(0))
        edges.extend((joined[1:], joined[:-1]))  # "a f u c k": a one-letter word before
        return joined
    return _SPACED.sub(join, folded)


def disguised(word: str) -> bool:
    """Whether `word` (folded) may read otherwise than written (`variants`)."""
    return not (word.isascii() and word.isalpha()) or _REPEAT.search(word) is not None


def variants(word: str) -> set[str]:
    """The ways `word` (folded) may be read: as written, with the digits and signs of
    letter-for-digit swaps put back (only in words that hold a letter), with long runs
    of a letter shortened."""
    out = {word, word.strip("@$") or word}
    swaps = len(word) - len(word.translate(_NO_LEET))
    if swaps and sum(map(str.isalpha, word)) >= swaps:  # "t17" is a number, not "tit"
        base = word.translate(_UNLEET)
        out |= {base.replace("1", "i"), base.replace("1", "l")}
    if not word.isascii() and any("a" <= c <= "z" for c in word):
        out.add(word.translate(_LOOKALIKE))
    if _REPEAT.search(word):
        for w in list(out):
            out |= {_REPEAT.sub(_once, w), _REPEAT.sub(_twice, w)}
    return out


def words(folded: str) -> list[str]:
    """The words of folded text, spaced-out words joined ("b a d" -> "bad"); after them,
    each joined word less its first and less its last letter (in "you are a b a d",
    the "a" may be a word of its own)."""
    if _SPACED_HINT.search(folded) is None:
        return _WORD.findall(folded)
    edges: list[str] = []
    return _WORD.findall(_unspaced(folded, edges)) + edges
