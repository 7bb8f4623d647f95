// Typing notices: our own, throttled; other people's, expiring.

/** Repeat "typing" at most this often while the user keeps typing. */
export const TYPING_REPEAT_MS = 3000;
/** Say "stopped typing" after this long without input. */
export const TYPING_IDLE_MS = 4000;
/** Forget someone's "typing" after this long without renewal (their "stopped" may be lost). */
export const TYPING_EXPIRE_MS = 6000;

/** Tells the room that the user types, throttled, and that they stopped. */
export class TypingNotifier {
  #send;
  #sentAt = 0;
  #idleTimer = null;

  /** @param {(typing: boolean) => void} send */
  constructor(send) {
    this.#send = send;
  }

  /** The composer changed; `hasText` is whether anything but blanks is in it. */
  input(hasText) {
    if (!hasText) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (now - this.#sentAt >= TYPING_REPEAT_MS) {
      this.#sentAt = now;
      this.#send(true);
    }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  /** The user sent, emptied the composer or went idle. */
  stop() {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    if (this.#sentAt === 0) return;
    this.#sentAt = 0;
    this.#send(false);
  }
}

/** The other members who are typing, in the order they started. */
export class TypingRoster {
  #entries = new Map();
  #onChange;

  /** @param {() => void} onChange */
  constructor(onChange) {
    this.#onChange = onChange;
  }

  /** Record that user `id` (display name `name`) types or stopped. */
  set(id, name, typing) {
    const entry = this.#entries.get(id);
    clearTimeout(entry?.timer);
    if (typing) {
      const timer = setTimeout(() => this.set(id, name, false), TYPING_EXPIRE_MS);
      this.#entries.set(id, { name: name || entry?.name || '', timer });
      if (!entry) this.#onChange();
    } else if (this.#entries.delete(id)) {
      this.#onChange();
    }
  }

  has(id) {
    return this.#entries.has(id);
  }

  /** Display names, '' where unknown. */
  names() {
    return [...this.#entries.values()].map((entry) => entry.name);
  }

  clear() {
    for (const { timer } of this.#entries.values()) clearTimeout(timer);
    this.#entries.clear();
  }
}
