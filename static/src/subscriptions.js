// The classroom page's subscriptions: one per stream of another member, kept alive.
//
// Each stream has an entry whatever happens to its leg, so its tile can say what is going on:
//   connecting  the first subscription is under way
//   live        connected (`paused` too when the service's last-N holds its video back)
//   retrying    the leg failed or could not be set up: a new one is tried after a capped
//               exponential backoff (1 s, 2 s, 4 s … 15 s), for as long as the stream lasts
//   refused     the service said no for good (`forbidden`: pupils' cameras are for teachers
//               only; `not_found`: the stream is gone and its rtc:ended is on the way)
// `restartAll()` (after the page's connection came back) starts every leg again: the service
// may have ended them with the connection, and a leg it ended is not always seen failing soon.

import { backoffMs, subscribe, watchLeg } from './room-rtc.js';

const FINAL_CODES = new Set(['forbidden', 'not_found']);

export class Subscriptions {
  /** @type {Map<string, {stream: string, sub: object | null, media: MediaStream | null,
   *   state: string, paused: boolean, attempt: number, timer: any, stop: () => void, epoch: number}>} */
  #entries = new Map();

  /**
   * @param {{client: import('./protocol.js').LiveClient, room: string,
   *   iceServers: () => RTCIceServer[], onChange: () => void}} options
   */
  constructor({ client, room, iceServers, onChange }) {
    this.client = client;
    this.room = room;
    this.iceServers = iceServers;
    this.onChange = onChange;
  }

  /** stream id → the subscription `{id, pc, media}`, or null while none is up (for tests). */
  get legs() {
    return new Map([...this.#entries].map(([stream, entry]) => [stream, entry.sub]));
  }

  /** `{state, paused, media}` of a stream's subscription, or null. */
  view(stream) {
    const entry = this.#entries.get(stream);
    return entry ? { state: entry.state, paused: entry.paused, media: entry.media } : null;
  }

  /** Subscribe to `stream` unless already subscribed. */
  add(stream) {
    if (this.#entries.has(stream)) return;
    const entry = { stream, sub: null, media: null, state: 'connecting', paused: false, attempt: 0, timer: null, stop: () => {}, epoch: 0 };
    this.#entries.set(stream, entry);
    this.#start(entry);
  }

  /** The stream ended: close its leg and forget it. */
  remove(stream) {
    const entry = this.#entries.get(stream);
    if (!entry) return;
    this.#entries.delete(stream);
    this.#drop(entry);
  }

  /** Start every leg again (after a reconnect), at once. */
  restartAll() {
    for (const entry of this.#entries.values()) {
      this.#drop(entry);
      entry.attempt = 0;
      entry.state = 'connecting';
      entry.paused = false;
      this.#start(entry);
    }
    this.onChange();
  }

  /** The room's media settings changed (a teacher let pupils see each other): ask again for
   * the streams the service refused. */
  retryRefused() {
    let any = false;
    for (const entry of this.#entries.values()) {
      if (entry.state !== 'refused') continue;
      entry.attempt = 0;
      entry.state = 'connecting';
      this.#start(entry);
      any = true;
    }
    if (any) this.onChange();
  }

  /** rtc:paused: last-N paused (or resumed) this stream's video for me. */
  setPaused(stream, paused) {
    const entry = this.#entries.get(stream);
    if (!entry || entry.paused === paused) return;
    entry.paused = paused;
    this.onChange();
  }

  clear() {
    for (const stream of [...this.#entries.keys()]) this.remove(stream);
  }

  async #start(entry) {
    const epoch = ++entry.epoch;
    const current = () => entry.epoch === epoch && this.#entries.get(entry.stream) === entry;
    const onTrack = (media) => {
      if (!current()) return;
      entry.media = media;
      this.onChange();
    };
    let sub;
    try {
      sub = await subscribe(this.client, this.room, entry.stream, onTrack, this.iceServers());
    } catch (error) {
      if (!current()) return;
      if (FINAL_CODES.has(error?.code)) {
        entry.state = 'refused';
        this.onChange();
      } else {
        console.warn('subscription failed:', entry.stream, error?.code ?? error?.name);
        this.#retry(entry);
      }
      return;
    }
    if (!current()) {
      this.#close(sub);
      return;
    }
    entry.sub = sub;
    entry.stop = watchLeg(sub.pc, () => {
      if (current()) this.#retry(entry);
    }, () => {
      if (!current()) return;
      entry.attempt = 0;
      entry.state = 'live';
      this.onChange();
    });
  }

  #retry(entry) {
    this.#drop(entry);
    entry.attempt += 1;
    entry.state = 'retrying';
    const epoch = entry.epoch;
    entry.timer = setTimeout(() => {
      if (this.#entries.get(entry.stream) === entry && entry.epoch === epoch) this.#start(entry);
    }, backoffMs(entry.attempt));
    this.onChange();
  }

  /** Close the entry's leg (and tell the service), keep the entry. */
  #drop(entry) {
    clearTimeout(entry.timer);
    entry.stop();
    entry.stop = () => {};
    entry.epoch += 1;
    if (entry.sub) this.#close(entry.sub);
    entry.sub = null;
    entry.media = null;
  }

  #close(sub) {
    sub.pc.close();
    this.client.rtcUnsubscribe(sub.id).catch(() => {});
  }
}
