// The classroom page's part of a lesson: a pupil held in the lobby is told so and comes in when
// a teacher lets them (room:admitted), is told when refused, and leaves when the lesson ends; a
// teacher sees the waiting list (let in one pupil or everyone, or refuse) and ends the lesson
// (after confirming). User data enters the DOM as text only.

import { ServerEvents } from './protocol.js';
import { h as el } from './dom.js';

const $ = (id) => document.getElementById(id);

/**
 * @param {{client: object, room: string, t: object, alertText: Function, announce: Function,
 *   act: Function, onJoined: Function, onEnded: Function}} deps
 */
export function roomLesson({ client, room, t, alertText, announce, act, onJoined, onEnded }) {
  const waiting = new Map();
  const here = (handler) => (detail) => { if (detail?.room === room) handler(detail); };

  /** Join the room; a pupil in the lobby hears so and waits for room:admitted. */
  async function join() {
    try {
      $('alert').hidden = true;
      return await client.join(room);
    } catch (error) {
      if (error?.code !== 'waiting') throw error;
      alertText('notice.waiting');
      return null;
    }
  }
  const enter = () => act(join()).then((ack) => { if (ack) onJoined(ack); });

  function render() {
    $('waiting').replaceChildren(...[...waiting.values()].map((w) => {
      const name = String(w.name ?? '');
      return el('li', { 'data-user': w.id }, el('bdi', { class: 'name' }, name),
        w.school ? el('span', { class: 'badge' }, String(w.school)) : null,
        el('button', { type: 'button', 'data-admit': 'true', 'aria-label': `${t.t('console.admit')}: ${name}` },
          t.t('console.admit')),
        el('button', { type: 'button', 'data-admit': 'false', 'aria-label': `${t.t('console.refuse')}: ${name}` },
          t.t('console.refuse')));
    }));
    $('waiting-count').textContent = String(waiting.size);
    $('no-waiting').hidden = waiting.size > 0;
    $('admit-all').hidden = waiting.size === 0;
  }

  client.on(ServerEvents.ROOM_ADMITTED, here(() => enter()));
  client.on(ServerEvents.ROOM_REFUSED, here(() => alertText('notice.refused')));
  client.on(ServerEvents.ROOM_ENDED, here(() => { onEnded(); alertText('notice.ended'); }));
  client.on(ServerEvents.LOBBY_WAITING, here(({ member }) => {
    waiting.set(member.id, member);
    announce('console.waiting_now', { name: String(member.name ?? '') });
    render();
  }));
  client.on(ServerEvents.LOBBY_DONE, here(({ users }) => {
    for (const id of users ?? []) waiting.delete(id);
    render();
  }));
  $('waiting').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-admit]');
    const user = button?.closest('li[data-user]')?.dataset.user;
    if (user) act(client.admit(room, { user }, button.dataset.admit === 'true'));
  });
  $('admit-all').addEventListener('click', () => act(client.admit(room, { all: true }, true)));
  $('end-lesson').addEventListener('click', () => {
    if (window.confirm(t.t('console.confirm_end'))) act(client.endLesson(room));
  });

  return {
    enter,
    /** The join ack: teachers see the lobby panel and who waits. */
    load(ack) {
      $('lobby-panel').hidden = ack.you?.role !== 'teacher';
      waiting.clear();
      for (const w of ack.waiting ?? []) waiting.set(w.id, w);
      render();
    },
  };
}
