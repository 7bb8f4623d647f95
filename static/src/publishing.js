// What the classroom page publishes: the camera stream (microphone and/or camera) and the
// screen share, kept alive.
//
// The camera stream holds only what is on: the microphone alone (no camera, or the camera
// off), the camera alone, or both. Turning the camera off stops its track (the light goes
// out) and publishes the microphone alone; the microphone is muted by disabling its track
// while the camera stays on, and stopped with it otherwise. Each change of what the stream
// holds is a new `rtc:publish` (the service replaces the previous stream): legs are never
// renegotiated.
//
// A published leg that fails, or that the service ends without anyone meaning it
// (`rtc:ended` with a reason outside ON_PURPOSE_ENDS: its process stopped, its media moved),
// is published again with the same tracks, with backoff while that fails; so is everything
// after the page's connection came back (`republishAll`). A teacher's hard mute
// (`setHardMuted`) turns the microphone or camera off and keeps it off until lifted.
// Operations run one at a time, in order.

import { ON_PURPOSE_ENDS } from './protocol.js';
import { backoffMs, publish, watchLeg } from './room-rtc.js';

export class Publisher {
  /** @type {{id: string, pc: RTCPeerConnection, media: MediaStream, source: string} | null} */
  camera = null;
  screen = null;
  mic = false;
  cam = false;
  hardMuted = { audio: false, video: false };
  #tracks = { audio: null, video: null };
  #stops = { camera: () => {}, screen: () => {} };
  #attempts = { camera: 0, screen: 0 };
  #timers = { camera: null, screen: null };
  #chain = Promise.resolve();

  /**
   * @param {{client: import('./protocol.js').LiveClient, room: string, devices: import('./devices.js').Devices,
   *   iceServers: () => RTCIceServer[], onChange: () => void, onError: (error: any) => void,
   *   onScreenEnded: () => void}} options
   */
  constructor(options) {
    Object.assign(this, options);
  }

  /** Run `task` after the ones before it; its error goes to onError. */
  #queue(task) {
    const run = this.#chain.then(task).catch((error) => this.onError(error)).finally(() => this.onChange());
    this.#chain = run;
    return run;
  }

  /** Switch on the microphone and/or the camera at once: one getUserMedia, one publish. */
  start({ mic = false, cam = false }) {
    return this.#queue(() => this.#add({ audio: mic, video: cam }));
  }

  setMic(on) {
    return this.#queue(async () => {
      if (on && !this.#tracks.audio) {
        await this.#add({ audio: true, video: false });
        return;
      }
      this.mic = on && !this.hardMuted.audio;
      if (this.#tracks.audio) this.#tracks.audio.enabled = this.mic;
      if (!this.mic && !this.cam) await this.#stopCamera();
    });
  }

  setCam(on) {
    return this.#queue(async () => {
      if (on) {
        await this.#add({ audio: false, video: true });
        return;
      }
      if (!this.#tracks.video) return;
      this.#tracks.video.stop();
      this.#tracks.video = null;
      this.cam = false;
      if (this.mic) await this.#publishCamera();
      else await this.#stopCamera();
    });
  }

  /** Capture the kinds asked for that are not on yet (nor held by a mute), publish with them. */
  async #add(wanted) {
    const audio = wanted.audio && !this.hardMuted.audio && !this.#tracks.audio;
    const video = wanted.video && !this.hardMuted.video && !this.#tracks.video;
    if (!audio && !video) return;
    const media = await navigator.mediaDevices.getUserMedia({
      audio: audio && this.devices.audio(), video: video && this.devices.video(),
    });
    const added = { audio: audio ? media.getAudioTracks()[0] : null, video: video ? media.getVideoTracks()[0] : null };
    for (const kind of ['audio', 'video']) if (added[kind]) this.#tracks[kind] = added[kind];
    try {
      await this.#publishCamera();
    } catch (error) {
      for (const kind of ['audio', 'video']) {
        if (!added[kind]) continue;
        added[kind].stop();
        this.#tracks[kind] = null;
      }
      throw error;
    }
    if (added.audio) this.mic = true;
    if (added.video) this.cam = true;
  }

  /** Share the screen (`media` from getDisplayMedia), or stop sharing with null. */
  setScreen(media) {
    return this.#queue(async () => {
      if (!media) {
        await this.#unpublish('screen');
        return;
      }
      try {
        await this.#publish('screen', media);
      } catch (error) {
        for (const track of media.getTracks()) track.stop();
        throw error;
      }
      media.getVideoTracks()[0]?.addEventListener('ended', () => this.setScreen(null));
    });
  }

  /** A teacher's hard mute of my microphone (`audio`) or camera (`video`), on or lifted. */
  setHardMuted(kinds) {
    const audio = kinds.includes('audio');
    const video = kinds.includes('video');
    this.hardMuted = { audio, video };
    if (audio && this.mic) this.setMic(false);
    if (video && this.cam) this.setCam(false);
    this.onChange();
  }

  /** rtc:ended for one of my streams: publish it again unless someone meant to end it. */
  ended(stream, reason) {
    for (const source of ['camera', 'screen']) {
      if (this[source]?.id !== stream || reason === 'replaced') continue;
      if (ON_PURPOSE_ENDS.has(reason)) {
        this.#queue(() => (source === 'camera' ? this.#stopCamera() : this.#unpublish('screen')));
        if (source === 'screen') this.onScreenEnded();
      } else {
        this.#queue(() => this.#republish(source, stream));
      }
    }
  }

  /** After a reconnect: publish everything again (the service may have ended it). */
  republishAll() {
    for (const source of ['camera', 'screen']) {
      if (this[source]) this.#queue(() => this.#republish(source));
    }
  }

  /** Stop everything, for good (left, removed, lesson ended). */
  stopAll() {
    return this.#queue(async () => {
      await this.#stopCamera();
      await this.#unpublish('screen');
    });
  }

  /** The tracks the camera stream should hold now. */
  #cameraMedia() {
    return new MediaStream([this.#tracks.audio, this.#tracks.video].filter(Boolean));
  }

  async #publishCamera() {
    await this.#publish('camera', this.#cameraMedia());
  }

  async #publish(source, media) {
    clearTimeout(this.#timers[source]);
    const leg = await publish(this.client, this.room, source, media, this.iceServers());
    this.#forget(source);
    this[source] = leg;
    this.#stops[source] = watchLeg(leg.pc, () => this.#queue(() => this.#republish(source, leg.id)), () => {
      this.#attempts[source] = 0;
    });
  }

  /** Publish `source` again with its tracks (only if its stream is still `only`, when given). */
  async #republish(source, only = null) {
    const leg = this[source];
    if (!leg || (only !== null && leg.id !== only)) return;
    try {
      await this.#publish(source, leg.media);
    } catch (error) {
      if (error?.code === 'forbidden') {
        // the room now lets only teachers publish, or a mute holds: stop instead
        await (source === 'camera' ? this.#stopCamera() : this.#unpublish('screen'));
        throw error;
      }
      this.#attempts[source] += 1;
      console.warn('publishing again failed:', source, error?.code ?? error?.name);
      this.#timers[source] = setTimeout(() => this.#queue(() => this.#republish(source)),
        backoffMs(this.#attempts[source]));
    }
  }

  /** Close a leg's PeerConnection and stop watching it; the tracks stay. */
  #forget(source) {
    this.#stops[source]();
    this.#stops[source] = () => {};
    this[source]?.pc.close();
  }

  async #unpublish(source) {
    clearTimeout(this.#timers[source]);
    const leg = this[source];
    if (!leg) return;
    this.#forget(source);
    this[source] = null;
    for (const track of leg.media.getTracks()) track.stop();
    await this.client.rtcUnpublish(leg.id).catch(() => {});
  }

  async #stopCamera() {
    for (const track of [this.#tracks.audio, this.#tracks.video]) track?.stop();
    this.#tracks = { audio: null, video: null };
    this.mic = false;
    this.cam = false;
    await this.#unpublish('camera');
  }
}
