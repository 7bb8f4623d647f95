// Whether a message names a user: their display name (or its first word, of 3 letters or more)
// as a whole word, with or without a leading @, whatever the case. Used for the widget's
// `mention` event (docs/protocol.md "The host page knows").

const LETTER = /[\p{L}\p{N}_]/u;

function namesWord(text, word) {
  const haystack = text.toLocaleLowerCase();
  const needle = word.toLocaleLowerCase();
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    const before = at > 0 ? haystack[at - 1] : '';
    const after = haystack[at + needle.length] ?? '';
    if (!LETTER.test(before) && !LETTER.test(after)) return true;
  }
  return false;
}

/** Whether `text` names the user called `name`. */
export function mentions(text, name) {
  const full = String(name ?? '').trim();
  if (!full || typeof text !== 'string') return false;
  const first = full.split(/\s+/u)[0];
  return namesWord(text, full) || (first.length >= 3 && namesWord(text, first));
}
