// Reading the claims of a platform token in the browser.
//
// The service verifies every token; the browser only peeks at the payload to learn who it is
// (`sub`, `name`, `role`) and which language it prefers (`lang`). Nothing here is trusted.

/**
 * Decode the payload of a JWT (base64url JSON) without verifying it.
 * @param {unknown} token
 * @returns {Record<string, unknown> | null} the claims, or null when the token is malformed
 */
export function decodeToken(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? claims : null;
  } catch {
    return null;
  }
}

/**
 * Whether the claims' `exp` lies in the past.
 * @param {Record<string, unknown> | null} claims
 * @param {number} [now] milliseconds since the epoch
 */
export function isExpired(claims, now = Date.now()) {
  return typeof claims?.exp === 'number' && claims.exp * 1000 <= now;
}
