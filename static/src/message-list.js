// The messages of one room, in id order (ids sort in send order), each once, with its element.
// Private messages (ids `pm-<ms>-…`, live only) sort among the others by their time.

const sortKey = (id) => (id.startsWith('pm-') ? id.slice(3) : id);

export class MessageList {
  /** @type {Map<string, {message: object, el: Element | null}>} */
  #entries = new Map();
  /** @type {string[]} ascending */
  #order = [];
  #container = null;
  #render;

  /** @param {(message: object) => Element} render builds a message's element */
  constructor(render) {
    this.#render = render;
  }

  get size() { return this.#order.length; }
  /** The oldest kept (not private) message's id: the cursor for older history pages. */
  get oldestId() { return this.#order.find((id) => !id.startsWith('pm-')) ?? null; }
  has(id) { return this.#entries.has(id); }

  /** Show the list in `container`, building every element anew (e.g. in another language). */
  attach(container) {
    this.#container = container;
    for (const entry of this.#entries.values()) entry.el = this.#render(entry.message);
    container.replaceChildren(...this.#order.map((id) => this.#entries.get(id).el));
  }

  /** Insert a message; its index, or -1 when its id is already there. */
  add(message) {
    if (this.#entries.has(message.id)) return -1;
    let index = this.#order.length;
    const key = sortKey(message.id);
    while (index > 0 && sortKey(this.#order[index - 1]) > key) index -= 1;
    const next = this.#entries.get(this.#order[index]);
    const el = this.#container ? this.#render(message) : null;
    this.#order.splice(index, 0, message.id);
    this.#entries.set(message.id, { message, el });
    if (el) this.#container.insertBefore(el, next?.el ?? null);
    return index;
  }

  /** Remove a message; its element (already out of the DOM), or null when unknown. */
  remove(id) {
    const entry = this.#entries.get(id);
    if (!entry) return null;
    this.#entries.delete(id);
    this.#order.splice(this.#order.indexOf(id), 1);
    entry.el?.remove();
    return entry.el;
  }

  clear() {
    this.#entries.clear();
    this.#order = [];
    this.#container?.replaceChildren();
  }
}
