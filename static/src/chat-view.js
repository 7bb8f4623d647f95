// DOM pieces of <twinspace-chat>. User data only ever enters the DOM as text nodes
// (Element.append of strings, textContent), never as markup.

import { h } from './dom.js';
import { linkPieces } from './links.js';

export { h };

/**
 * The element's skeleton, with the handles the element needs. Texts come from `t`, a
 * Translator.
 */
export function buildView(t) {
  const view = {};
  view.title = h('h2', { class: 'title', id: 'title' });
  view.status = h('p', { class: 'status', role: 'status' });
  view.locked = h('p', { class: 'locked', hidden: true }, t.t('room.locked'));
  view.hand = h('button', { class: 'hand-toggle', type: 'button', 'aria-pressed': 'false' },
    h('span', { 'aria-hidden': 'true' }, '✋ '), t.t('hand.raise'));

  view.loadOlder = h('button', { class: 'load-older', type: 'button', hidden: true },
    t.t('chat.load_older'));
  view.olderNote = h('p', { class: 'older-note', hidden: true });
  view.empty = h('p', { class: 'empty', hidden: true }, t.t('chat.empty'));
  view.list = h('ol', { class: 'messages' });
  view.log = h('div', {
    class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t.t('chat.log'), tabindex: '0',
  }, h('div', { class: 'older' }, view.loadOlder, view.olderNote), view.empty, view.list);
  view.jump = h('button', { class: 'jump', type: 'button', hidden: true });

  view.peopleCount = h('span', { class: 'people-count' });
  view.members = h('ul', { class: 'members' });
  view.people = h('details', { class: 'people', open: true },
    h('summary', {}, h('span', { class: 'people-title' }, t.t('presence.title')), ' ', view.peopleCount),
    view.members);

  view.typing = h('p', { class: 'typing' });
  view.noticeText = h('p', { class: 'notice-text' });
  view.dismiss = h('button', { class: 'dismiss', type: 'button' }, t.t('notice.dismiss'));
  view.notice = h('div', { class: 'notice', role: 'alert', hidden: true }, view.noticeText, view.dismiss);

  view.input = h('textarea', {
    id: 'input', rows: '2', maxlength: '2000', autocomplete: 'off',
    placeholder: t.t('chat.placeholder'), 'aria-describedby': 'hint',
  });
  view.send = h('button', { class: 'send', type: 'submit' }, t.t('chat.send'));
  view.to = h('select', { id: 'to', class: 'to' });
  view.recipient = h('div', { class: 'recipient', hidden: true },
    h('label', { for: 'to' }, t.t('chat.to')), view.to);
  view.hint = h('p', { class: 'hint', id: 'hint' }, t.t('chat.hint'));
  // supervision (docs/protocol.md "Private messages"): said where a private message is written
  view.pmRule = h('p', { class: 'pm-rule', id: 'pm-rule', hidden: true }, t.t('chat.pm_rule'));
  view.composer = h('form', { class: 'composer', hidden: true }, view.recipient, view.pmRule,
    h('label', { class: 'vh', for: 'input' }, t.t('chat.message_label')), view.input, view.send,
    view.hint);
  view.readOnly = h('p', { class: 'readonly', hidden: true }, t.t('chat.read_only'));

  view.root = h('section', { class: 'root', lang: t.lang, dir: t.dir, 'aria-labelledby': 'title' },
    h('header', { class: 'bar' }, view.title, view.status, view.locked, view.hand),
    h('div', { class: 'main' }, h('div', { class: 'conversation' }, view.log, view.jump), view.people),
    view.typing, view.notice, view.composer, view.readOnly);
  return view;
}

/**
 * One message as a list item carrying `data-id`.
 * @param {object} message `{id, user: {id, name, role}, text, ts}`, and `to` for a private one
 * @param {{t: object, own: boolean, canDelete: boolean, canReport?: boolean,
 *   links?: {domains: string[] | null}}} options
 *   `links`: which http(s) links become links (links.js); none by default
 */
export function messageItem(message, { t, own, canDelete, canReport = false, links = { domains: [] } }) {
  const user = message.user ?? {};
  const name = String(user.name ?? '');
  const ts = Number(message.ts);
  const meta = h('p', { class: 'meta' }, h('bdi', { class: 'name' }, name));
  if (own) meta.append(h('span', { class: 'you' }, t.t('chat.you')));
  if (user.role === 'teacher') meta.append(h('span', { class: 'badge' }, t.t('role.teacher')));
  const to = message.to && typeof message.to === 'object' ? message.to : null;
  if (to) {
    meta.append(h('span', { class: 'badge private' }, t.t('chat.private')),
      h('span', { class: 'to' }, t.t('chat.to_name', { name: String(to.name ?? '') })));
  }
  if (Number.isFinite(ts)) {
    meta.append(h('time', { datetime: new Date(ts).toISOString(), title: t.dateTime(ts) }, t.time(ts)));
  }
  if (canDelete && !to) {
    meta.append(h('button', {
      class: 'delete', type: 'button', 'aria-label': t.t('chat.delete_label', { name }),
    }, t.t('chat.delete')));
  }
  if (canReport && !own && !to) {
    meta.append(h('button', {
      class: 'report', type: 'button', 'aria-label': t.t('chat.report_label', { name }),
    }, t.t('chat.report')));
  }
  return h('li', { class: `msg${own ? ' own' : ''}${to ? ' private' : ''}`, 'data-id': message.id },
    meta, h('p', { class: 'text', dir: 'auto' }, ...textWithLinks(String(message.text ?? ''), links)));
}

/** The text as text nodes, with each allowed link as an <a> opening a new tab, no referrer. */
function textWithLinks(text, policy) {
  return linkPieces(text, policy).map((piece) => (typeof piece === 'string' ? piece
    : h('a', { href: piece.href, target: '_blank', rel: 'noopener noreferrer' }, piece.text)));
}

/**
 * One member of the room for the presence list.
 * @param {{id: string, name: string, role: string, hand?: boolean, school?: string}} member
 */
export function memberItem(member, { t, me }) {
  const item = h('li', { class: 'member', 'data-user': member.id },
    h('bdi', { class: 'name' }, String(member.name ?? '')));
  if (me) item.append(h('span', { class: 'you' }, t.t('chat.you')));
  if (['teacher', 'student', 'visitor'].includes(member.role)) {
    item.append(h('span', { class: 'role' }, t.t(`role.${member.role}`)));
  }
  if (member.school) {
    item.append(h('span', { class: 'school', title: t.t('school.badge', { school: member.school }) },
      String(member.school)));
  }
  if (member.hand) {
    item.append(h('span', { class: 'hand', title: t.t('hand.raised') },
      h('span', { 'aria-hidden': 'true' }, '✋'), h('span', { class: 'vh' }, t.t('hand.raised'))));
  }
  return item;
}
