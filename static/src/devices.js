// The camera and microphone a member chose, remembered in localStorage, and the panel that
// picks them with a live preview before the member joins the call (#prejoin on /room/R).
//
// A choice is a deviceId, '' for the browser's default, or 'none' (join without it). Device ids
// are asked as `ideal`, so a device that is gone falls back to another instead of failing.
// Device names show only once the browser allowed the page a device: the preview asks for
// one, then the lists are filled again.

import { h } from './dom.js';

const KEY = 'twinspace-live:devices';
export const NONE = 'none';
const SIZE = { width: 640, height: 480 };

export class Devices {
  camera = '';
  mic = '';

  constructor(storage = globalThis.localStorage) {
    this.storage = storage;
    try {
      const saved = JSON.parse(storage?.getItem(KEY) ?? '{}');
      if (typeof saved.camera === 'string') this.camera = saved.camera;
      if (typeof saved.mic === 'string') this.mic = saved.mic;
    } catch {
      // nothing kept, or not readable: the defaults
    }
  }

  choose({ camera = this.camera, mic = this.mic }) {
    this.camera = camera;
    this.mic = mic;
    try {
      this.storage?.setItem(KEY, JSON.stringify({ camera, mic }));
    } catch {
      // storage refused (private mode): the choice lasts for this page
    }
  }

  /** getUserMedia constraints for the chosen microphone. */
  audio() {
    return this.mic && this.mic !== NONE ? { deviceId: { ideal: this.mic } } : true;
  }

  /** getUserMedia constraints for the chosen camera. */
  video() {
    return this.camera && this.camera !== NONE ? { ...SIZE, deviceId: { ideal: this.camera } } : { ...SIZE };
  }

  /** `{cameras, mics}`: the devices the browser lists. */
  async list() {
    const all = (await navigator.mediaDevices?.enumerateDevices?.().catch(() => [])) ?? [];
    return {
      cameras: all.filter((d) => d.kind === 'videoinput'),
      mics: all.filter((d) => d.kind === 'audioinput'),
    };
  }
}

/**
 * The panel before joining the call: preview, pickers and "Join the call", which calls
 * `onJoin({camera, mic})` (booleans: what to switch on). `close()` stops the preview; the
 * #devices button opens it again.
 * @param {{devices: Devices, t: any, onJoin: (wanted: {camera: boolean, mic: boolean}) => void}} options
 */
export function prejoinPanel({ devices, t, onJoin }) {
  const $ = (id) => document.getElementById(id);
  const panel = $('prejoin');
  const preview = $('preview');
  let stream = null;
  let generation = 0;

  const options = (select, list, current, noneKey) => {
    const items = [h('option', { value: '' }, t.t('room.default_device'))];
    list.forEach((d, i) => items.push(h('option', { value: d.deviceId }, d.label || t.t('room.device_n', { n: i + 1 }))));
    items.push(h('option', { value: NONE }, t.t(noneKey)));
    select.replaceChildren(...items);
    select.value = [...select.options].some((o) => o.value === current) ? current : '';
  };

  async function refresh() {
    const { cameras, mics } = await devices.list();
    options($('pick-camera'), cameras.filter((d) => d.deviceId), devices.camera, 'room.no_camera');
    options($('pick-mic'), mics.filter((d) => d.deviceId), devices.mic, 'room.no_mic');
    $('no-camera-found').hidden = cameras.length > 0;
  }

  async function show() {
    const mine = ++generation;
    stop();
    const wants = { video: devices.camera !== NONE, audio: devices.mic !== NONE };
    let media = null;
    for (const ask of [{ video: wants.video && devices.video(), audio: wants.audio && devices.audio() },
      { video: false, audio: wants.audio && devices.audio() }]) {
      if (!ask.video && !ask.audio) continue;
      media = await navigator.mediaDevices?.getUserMedia(ask).catch(() => null);
      if (media) break;
    }
    if (mine !== generation || panel.hidden) {
      for (const track of media?.getTracks() ?? []) track.stop();
      return;
    }
    stream = media;
    preview.srcObject = media && media.getVideoTracks().length ? media : null;
    preview.play?.().catch(() => {});
    await refresh();
  }

  function stop() {
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = null;
    preview.srcObject = null;
  }

  function close() {
    generation += 1;
    panel.hidden = true;
    $('devices').setAttribute('aria-expanded', 'false');
    stop();
  }

  function open() {
    panel.hidden = false;
    $('devices').setAttribute('aria-expanded', 'true');
    refresh().then(show);
  }

  $('pick-camera').addEventListener('change', (e) => { devices.choose({ camera: e.target.value }); show(); });
  $('pick-mic').addEventListener('change', (e) => { devices.choose({ mic: e.target.value }); show(); });
  $('join-call').addEventListener('click', () => {
    close();
    // no camera found: the microphone alone
    onJoin({ camera: devices.camera !== NONE && $('no-camera-found').hidden, mic: devices.mic !== NONE });
  });
  $('devices').addEventListener('click', () => (panel.hidden ? open() : close()));
  return { open, close };
}
