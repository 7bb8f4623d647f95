// WebRTC for the classroom page: one RTCPeerConnection per published stream and one per
// subscription, so nothing is ever renegotiated (docs/protocol.md, "Videoconference").
//
// Publishing, the browser offers (`rtc:publish`) and the service answers; subscribing, the
// service offers (`rtc:subscribe`) and the browser answers (`rtc:answer`). The service does not
// trickle ICE candidates: each side's description carries all of them, so the browser waits for
// its ICE gathering to complete before sending its own. Every PeerConnection uses the ICE servers
// of the newest `join` or `auth:renew` ack (`client.iceServers`): fresh TURN credentials for
// every new leg of a long lesson.

const GATHER_TIMEOUT_MS = 3000;

/** A PeerConnection through the newest ICE servers (TURN for school firewalls) the service gave. */
function peerConnection(client) {
  return new RTCPeerConnection({ iceServers: client.iceServers ?? [] });
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
 * Publish `media` (camera: audio + video; screen: video) as `source` in `room`.
 * @returns {Promise<{id: string, pc: RTCPeerConnection, media: MediaStream, source: string}>}
 */
export async function publish(client, room, source, media) {
  const pc = peerConnection(client);
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
export async function subscribe(client, room, stream, onTrack) {
  const ack = await client.rtcSubscribe(room, stream);
  const pc = peerConnection(client);
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
