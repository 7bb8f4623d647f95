// The end screen of the classroom page: instead of controls that no longer do anything, a
// member who left, was removed by a teacher or whose lesson ended reads why, in a heading
// that takes the focus. Someone who left may join again (a reload: the token is kept for
// the tab, session.js).

const $ = (id) => document.getElementById(id);

/** Why the lesson is over for me: the text of each (its catalog key). */
export const EndReasons = Object.freeze({ LEFT: 'end.left', KICKED: 'notice.kicked', ENDED: 'end.ended' });

/**
 * Hide the room and show the end screen with `reasonKey` (an EndReasons value).
 * @param {{t: any, reasonKey: string}} options
 */
export function showEndScreen({ t, reasonKey }) {
  $('main').hidden = true;
  $('alert').hidden = true;
  $('end-text').textContent = t.t(reasonKey);
  $('rejoin').hidden = reasonKey !== EndReasons.LEFT;
  const screen = $('ended');
  screen.hidden = false;
  $('end-title').focus();
}

/** Wire the end screen's "Join again" button. */
export function endScreenControls() {
  $('rejoin').addEventListener('click', () => location.reload());
}
