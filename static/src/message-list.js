// The messages of one room, in id order (ids sort in send order), each once. No DOM: the widget
// keeps the elements. Private messages (ids `pm-<ms>-…`, live only) sort among the others by
// their time.

const sortKey = (id) => (id.startsWith('pm-') ? id.slice(3) : id);

export class MessageList {
  /** @type {Map<string, object>} */
  #entries = new Map();
  /** @type {string[]} ascending */
  #order = [];

  get size() { return this.#order.length; }
  /** The oldest kept (not private) message's id: the cursor for older history pages. */
  get oldestId() { return this.#order.find((id) => !id.startsWith('pm-')) ?? null; }
  has(id) { return this.#entries.has(id); }
  /** The message at `index`, or undefined. */
  at(index) { return this.#entries.get(this.#order[index]); }
  /** The messages, oldest first. */
  list() { return this.#order.map((id) => this.#entries.get(id)); }

  /** Insert a message; its index, or -1 when its id is already there. */
  add(message) {
    if (this.#entries.has(message.id)) return -1;
    let index = this.#order.length;
    const key = sortKey(message.id);
    while (index > 0 && sortKey(this.#order[index - 1]) > key) index -= 1;
    this.#order.splice(index, 0, message.id);
    this.#entries.set(message.id, message);
    return index;
  }

  /** Remove a message; whether it was there. */
  remove(id) {
    if (!this.#entries.delete(id)) return false;
    this.#order.splice(this.#order.indexOf(id), 1);
    return true;
  }

  clear() {
    this.#entries.clear();
    this.#order = [];
  }
}
