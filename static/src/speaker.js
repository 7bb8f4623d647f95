// Who is speaking, for the classroom page's speaker view. No event from the service names the
// active speaker (its ranking stays inside the forwarding unit, signaling/lastn.py), so the page
// reads the audio level the browser already knows for each received stream: RTCRtpReceiver
// getSynchronizationSources() gives `audioLevel` (0..1, from the same RFC 6464 header extension
// the service ranks by), nothing decoded. Like the service's last-N, a speaker keeps the big tile
// until someone else speaks, so the view does not flicker through silences.

/** Linear level (0..1) at or above which a member speaks: about -40 dBov, louder than room noise. */
export const SPEAKING_LEVEL = 0.01;

export class ActiveSpeaker {
  /** @type {string | null} */
  current = null;

  /**
   * Take one sample of levels (user id → 0..1) and return the speaker: the loudest member at
   * or above SPEAKING_LEVEL, else whoever spoke last while they are still in `levels`.
   * @param {Map<string, number>} levels
   * @returns {string | null}
   */
  observe(levels) {
    let loudest = null;
    let best = SPEAKING_LEVEL;
    for (const [user, level] of levels) {
      if (level >= best) {
        best = level;
        loudest = user;
      }
    }
    if (loudest !== null) this.current = loudest;
    else if (this.current !== null && !levels.has(this.current)) this.current = null;
    return this.current;
  }
}

/**
 * The audio level of each received stream's sender, user id → 0..1.
 * @param {Map<string, {pc: RTCPeerConnection} | null>} legs stream id → subscription
 * @param {Map<string, {user: string}>} streams stream id → its info
 */
export function receivedLevels(legs, streams) {
  const levels = new Map();
  for (const [stream, sub] of legs) {
    const user = streams.get(stream)?.user;
    if (!sub?.pc || !user) continue;
    for (const receiver of sub.pc.getReceivers()) {
      if (receiver.track?.kind !== 'audio') continue;
      const level = receiver.getSynchronizationSources?.()[0]?.audioLevel ?? 0;
      levels.set(user, Math.max(levels.get(user) ?? 0, level));
    }
  }
  return levels;
}
