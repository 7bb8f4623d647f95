// Reactions on the messages of one room, apart from how they are shown: per message id the
// counts per emoji (as `chat:reactions` and the acks tell) and the emojis this user chose (as
// the join and history acks and this user's own `chat:react` acks tell). No DOM.

import { EMOJIS } from './protocol.js';

/** Catalog keys naming each emoji for screen readers (`reactions.name.*`). */
export const EMOJI_NAMES = Object.freeze({
  [EMOJIS[0]]: 'thumbs_up', [EMOJIS[1]]: 'heart', [EMOJIS[2]]: 'laugh',
  [EMOJIS[3]]: 'surprised', [EMOJIS[4]]: 'applause', [EMOJIS[5]]: 'question',
});

const NONE = Object.freeze({ counts: Object.freeze({}), mine: Object.freeze([]) });

function cleanCounts(counts) {
  const out = {};
  for (const emoji of EMOJIS) {
    const n = Number(counts?.[emoji] ?? 0);
    if (Number.isInteger(n) && n > 0) out[emoji] = n;
  }
  return out;
}

export class ReactionBook {
  /** @type {Map<string, {counts: Record<string, number>, mine: string[]}>} */
  #byId = new Map();

  /** `{counts, mine}` of message `id` (empty when nobody reacted). */
  get(id) {
    return this.#byId.get(id) ?? NONE;
  }

  /** Take the `reactions` of a join or history ack: message id -> `{counts, mine}`. */
  load(reactions) {
    if (!reactions || typeof reactions !== 'object') return [];
    const ids = Object.keys(reactions);
    for (const id of ids) this.set(id, reactions[id]?.counts, reactions[id]?.mine);
    return ids;
  }

  /** New counts for message `id`; `mine` when known (else this user's choices stay). */
  set(id, counts, mine = undefined) {
    const before = this.get(id);
    const chosen = Array.isArray(mine) ? EMOJIS.filter((e) => mine.includes(e)) : before.mine;
    const entry = { counts: cleanCounts(counts), mine: chosen };
    if (Object.keys(entry.counts).length === 0 && entry.mine.length === 0) this.#byId.delete(id);
    else this.#byId.set(id, entry);
  }

  drop(id) {
    this.#byId.delete(id);
  }

  clear() {
    this.#byId.clear();
  }
}
