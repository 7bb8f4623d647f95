// What a LiveClient remembers of each room's messages, and the pieces of catching up after a
// reconnect: fetching the messages sent meanwhile, and noticing the ones deleted meanwhile.

/** How many messages a `join` ack carries (the contract's "last 50"). */
export const JOIN_PAGE_SIZE = 50;
/** The largest `limit` chat:history accepts. */
export const HISTORY_PAGE_MAX = 100;

/** Message ids are strings that sort in send order. */
export function compareIds(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isMessage(value) {
  return value !== null && typeof value === 'object' && typeof value.id === 'string'
    && typeof value.room === 'string';
}

/** The message ids seen in one room, and the newest. */
export class RoomTrack {
  lastId = null;
  seen = new Set();

  /** Remember a message id; true if it is new. */
  note(id) {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.lastId === null || id > this.lastId) this.lastId = id;
    return true;
  }
}

/**
 * Every message newer than `after`, paging history until `more` is false.
 * @param {(after: string) => Promise<{messages?: object[], more?: boolean}>} fetchPage the page
 *   just newer than a message id (at most HISTORY_PAGE_MAX messages)
 * @param {string} after
 * @param {() => boolean} current false once a newer connection took over: stop
 */
export async function pageAfter(fetchPage, after, current) {
  const messages = [];
  for (let cursor = after; current();) {
    const page = await fetchPage(cursor);
    const list = (page.messages ?? []).filter(isMessage);
    messages.push(...list);
    if (!page.more || list.length === 0) break;
    cursor = list.at(-1).id;
  }
  return messages;
}

/**
 * The ids seen before a reconnect that the new join page should hold but does not: they were
 * deleted meanwhile. The join page holds the newest JOIN_PAGE_SIZE messages, or all there are.
 * @param {Iterable<string>} known ids seen before the reconnect
 * @param {object[]} joinPage the join ack's messages, oldest first
 */
export function vanishedIds(known, joinPage) {
  const present = new Set(joinPage.map((message) => message.id));
  const floor = joinPage.length >= JOIN_PAGE_SIZE ? joinPage[0].id : null;
  return [...known].filter((id) => !present.has(id) && (floor === null || id >= floor));
}
