// Who is in a chat room and what the room lets them do, read from the service's member records
// (join ack `members`, `presence:*`, `mod:muted`, `mod:permissions`). No DOM, no I/O.

import { MuteKinds } from './protocol.js';

/** The id of a user given either as an id or as `{id, ...}`. */
export function userIdOf(user) {
  return user !== null && typeof user === 'object' ? user.id ?? null : user ?? null;
}

/** Whether a `mod:mute` / `mod:muted` `what` silences the chat. */
export function mutesChat(what) {
  return what === MuteKinds.CHAT || what === MuteKinds.ALL;
}

/** Whether a member record says its chat is muted (`muted: true | 'chat' | ['chat'] | {chat}`). */
export function chatMuted(member) {
  const muted = member?.muted;
  if (Array.isArray(muted)) return muted.some(mutesChat);
  if (muted !== null && typeof muted === 'object') return Boolean(muted.chat || muted.all);
  return muted === true || mutesChat(muted);
}

/**
 * The members `me` may write to privately: a teacher to anyone, a pupil to teachers and to
 * pupils as the room's permissions allow, a visitor to no one.
 * @param {Iterable<{id: string, role: string}>} members
 * @param {{id: string | null, role: string}} me
 * @param {{pupils_to_teachers?: boolean, pupils_to_pupils?: boolean}} permissions
 */
export function privateRecipients(members, me, permissions) {
  if (me.role === 'visitor') return [];
  const { pupils_to_teachers: toTeachers, pupils_to_pupils: toPupils } = permissions;
  return [...members].filter((m) => m.id !== me.id && (me.role === 'teacher'
    || (m.role === 'teacher' && toTeachers) || (m.role === 'student' && toPupils)));
}
