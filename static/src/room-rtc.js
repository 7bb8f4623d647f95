// WebRTC for the classroom page: one RTCPeerConnection per published stream and one per
// subscription, so nothing is ever renegotiated (docs/protocol.md, "Videoconference").
//
// Publishing, the browser offers (`rtc:publish`) and the service answers; subscribing, the
// service offers (`rtc:subscribe`) and the browser answers (`rtc:answer`). The service does not
// trickle ICE candidates: each side's description carries all of them, so the browser waits for
// its ICE gathering to complete before sending its own. Every PeerConnection uses the ICE servers
// of the newest `join` or `auth:renew` ack (`client.iceServers`: STUN, and TURN with fresh
// credentials for networks that let no UDP out, for every new leg of a long lesson).
//
// A leg that fails does not come back by itself: the service negotiates each leg once (no ICE
// restart), so `watchLeg` reports a leg failed, closed, disconnected for longer than a grace or
// never connected, and the page starts a new one (publishing.js, subscriptions.js).

const GATHER_TIMEOUT_MS = 3000;
/** A disconnected leg often recovers by itself (a short blip): wait this long first. */
export const DISCONNECT_GRACE_MS = 4000;
/** A leg not connected this long after its negotiation is lost (the service gives up at 30 s). */
export const CONNECT_TIMEOUT_MS = 20000;

/**
 * Call `onLost()` once when `pc` fails, closes, stays disconnected for DISCONNECT_GRACE_MS or
 * does not connect within CONNECT_TIMEOUT_MS; `onConnected()` each time it connects.
 * @returns {() => void} stops watching
 */
export function watchLeg(pc, onLost, onConnected = () => {}) {
  let done = false;
  let graceTimer = null;
  const lost = () => {
    if (done) return;
    stop();
    onLost();
  };
  const connectTimer = setTimeout(() => { if (pc.connectionState !== 'connected') lost(); }, CONNECT_TIMEOUT_MS);
  const changed = () => {
    const state = pc.connectionState;
    if (state === 'failed' || state === 'closed') lost();
    else if (state === 'disconnected') {
      clearTimeout(graceTimer);
      graceTimer = setTimeout(lost, DISCONNECT_GRACE_MS);
    } else if (state === 'connected') {
      clearTimeout(graceTimer);
      clearTimeout(connectTimer);
      onConnected();
    }
  };
  pc.addEventListener('connectionstatechange', changed);
  function stop() {
    done = true;
    clearTimeout(graceTimer);
    clearTimeout(connectTimer);
    pc.removeEventListener('connectionstatechange', changed);
  }
  return stop;
}

/** Capped exponential backoff for attempt 1, 2, …: 1 s, 2 s, 4 s, … up to 15 s. */
export function backoffMs(attempt) {
  return Math.min(1000 * 2 ** Math.max(0, attempt - 1), 15000);
}

/** A PeerConnection through the newest ICE servers (TURN for school firewalls) the service gave. */
function peerConnection(client, iceServers = []) {
  return new RTCPeerConnection({ iceServers: client.iceServers ?? iceServers });
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Keep the published resolution; on a weak network lower the frame rate instead. */
async function keepResolution(sender) {
  try {
    const parameters = sender.getParameters();
    parameters.degradationPreference = 'maintain-resolution';
    await sender.setParameters(parameters);
  } catch {
    // not supported here: the browser's default applies
  }
}

/**
 * Publish `media` (camera: its audio and/or video; screen: video) as `source` in `room`.
 * @returns {Promise<{id: string, pc: RTCPeerConnection, media: MediaStream, source: string}>}
 */
export async function publish(client, room, source, media, iceServers = []) {
  const pc = peerConnection(client, iceServers);
  try {
    for (const track of media.getTracks()) {
      if (source === 'screen' && track.kind === 'video') track.contentHint = 'detail';
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
      if (track.kind === 'video') await keepResolution(transceiver.sender);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const ack = await client.rtcPublish(room, source, pc.localDescription.sdp);
    await pc.setRemoteDescription({ type: 'answer', sdp: ack.sdp });
    return { id: ack.stream, pc, media, source };
  } catch (error) {
    pc.close();
    throw error;
  }
}

/**
 * Receive `stream` of `room`; `onTrack(media)` is called as its tracks arrive.
 * @returns {Promise<{id: string, pc: RTCPeerConnection, media: MediaStream}>}
 */
export async function subscribe(client, room, stream, onTrack, iceServers = []) {
  const ack = await client.rtcSubscribe(room, stream);
  const pc = peerConnection(client, iceServers);
  const media = new MediaStream();
  pc.addEventListener('track', (event) => {
    media.addTrack(event.track);
    onTrack(media);
  });
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: ack.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await client.rtcAnswer(ack.sub, pc.localDescription.sdp);
  } catch (error) {
    pc.close();
    client.rtcUnsubscribe(ack.sub).catch(() => {});
    throw error;
  }
  return { id: ack.sub, pc, media };
}
