// The classroom page on a small screen, and who gets the big tile.
//
// ChatDrawer: below 50rem the chat and polls column is a drawer over the page; the "Chat" button
// in the bottom bar opens it and moves focus into it, its close button or Escape closes it and
// gives focus back to the button. On a wide screen the column is always there and both buttons
// are hidden (room.css), so the drawer's state does not matter.
// StageView: "Speaker view" shows one big tile that follows the active speaker (speaker.js); a
// teacher may pin any tile, and a pinned tile is the big one, in either view, until unpinned.
// Pinning is the teacher's own view only: nothing is sent.

import { ActiveSpeaker, receivedLevels } from './speaker.js';

const SAMPLE_MS = 400;

export class ChatDrawer {
  /** @param {{toggle: HTMLButtonElement, close: HTMLButtonElement, panel: HTMLElement}} parts */
  constructor({ toggle, close, panel }) {
    Object.assign(this, { toggle, close, panel });
    toggle.addEventListener('click', () => this.set(!this.open));
    close.addEventListener('click', () => this.set(false));
    panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.open) {
        event.preventDefault();
        this.set(false);
      }
    });
    this.set(false, false);
  }

  get open() {
    return this.panel.dataset.open === 'true';
  }

  set(open, moveFocus = true) {
    this.panel.dataset.open = String(open);
    this.toggle.setAttribute('aria-expanded', String(open));
    if (!moveFocus) return;
    if (open) this.close.focus();
    else this.toggle.focus();
  }
}

export class StageView {
  speaker = new ActiveSpeaker();
  /** @type {string | null} */
  pinned = null;
  speakerView = false;
  #timer = null;

  /**
   * @param {{button: HTMLButtonElement, state: object, subs: {legs: Map<string, any>},
   *   onChange: () => void}} options
   */
  constructor({ button, state, subs, onChange }) {
    Object.assign(this, { button, state, subs, onChange });
    button.addEventListener('click', () => {
      this.speakerView = !this.speakerView;
      button.setAttribute('aria-pressed', String(this.speakerView));
      this.#watch();
      onChange();
    });
  }

  /** The user whose tile is big, or null for the plain grid. */
  big() {
    if (this.pinned !== null && this.state.members.has(this.pinned)) return this.pinned;
    return this.speakerView ? this.speaker.current ?? this.#firstTeacher() : null;
  }

  pin(user) {
    this.pinned = this.pinned === user ? null : user;
    this.onChange();
  }

  #firstTeacher() {
    return [...this.state.members.values()].find((m) => m.role === 'teacher')?.id ?? null;
  }

  #watch() {
    clearInterval(this.#timer);
    if (!this.speakerView) return;
    this.#timer = setInterval(() => {
      const before = this.speaker.current;
      if (this.speaker.observe(receivedLevels(this.subs.legs, this.state.streams)) !== before) this.onChange();
    }, SAMPLE_MS);
  }
}
