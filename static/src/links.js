// http(s) links in a chat message, for rendering (docs/protocol.md "Links"). A link is shown
// as a link only when it is http: or https:, carries no user name or password (which could
// dress one site up as another: https://school.example@elsewhere.example), and its host is
// allowed by the room's link policy (`links` of the join ack: `{domains: null}` every
// domain, else the domains allowed with their subdomains). Anything else stays text.

const CANDIDATE = /\bhttps?:\/\/[^\s<>"'`]+/giu;
const TRAILING = /[.,;:!?'"»›)\]}]+$/u;

/** The room's policy from a join ack's `links` (none given: no links). */
export function linkPolicy(links) {
  if (!links || typeof links !== 'object') return { domains: [] };
  if (links.domains === null) return { domains: null };
  return { domains: Array.isArray(links.domains) ? links.domains.map((d) => String(d).toLowerCase()) : [] };
}

function allowed(host, policy) {
  if (policy.domains === null) return true;
  const name = host.toLowerCase().replace(/\.$/u, '');
  return policy.domains.some((d) => name === d || name.endsWith(`.${d}`));
}

/** Cut trailing punctuation off a candidate, but keep a `)` that closes a `(` inside it. */
function trim(candidate) {
  let url = candidate;
  for (;;) {
    const match = url.match(TRAILING);
    if (!match) return url;
    const cut = match[0];
    const last = cut.at(-1);
    if (last === ')' && (url.split('(').length - 1) >= (url.split(')').length - 1)) return url;
    url = url.slice(0, -1);
  }
}

/**
 * `text` in pieces: strings, and `{href, text}` for each link the policy allows.
 * @param {string} text
 * @param {{domains: string[] | null}} policy
 * @returns {(string | {href: string, text: string})[]}
 */
export function linkPieces(text, policy) {
  const pieces = [];
  let at = 0;
  for (const match of String(text).matchAll(CANDIDATE)) {
    const shown = trim(match[0]);
    let url = null;
    try {
      url = new URL(shown);
    } catch {
      url = null;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password
        || !url.hostname || !allowed(url.hostname, policy)) continue;
    if (match.index > at) pieces.push(text.slice(at, match.index));
    pieces.push({ href: url.href, text: shown });
    at = match.index + shown.length;
  }
  if (at < text.length) pieces.push(text.slice(at));
  return pieces;
}
