// The reactions row under a message in <twinspace-chat>: a button per emoji someone chose (its
// count; pressed when it is this user's), "Add a reaction" opening the six emojis, and for
// teachers "Who reacted" listing the names. Buttons carry `data-emoji` / `data-act`, which the
// element's click handler reads. Names only ever enter the DOM as text.

import { EMOJIS } from './protocol.js';
import { EMOJI_NAMES } from './reactions.js';
import { h } from './dom.js';

/**
 * @param {string} id the message's id
 * @param {object} options
 * @param {object} options.t a Translator
 * @param {{counts: Record<string, number>, mine: string[]}} options.entry
 * @param {boolean} options.canReact
 * @param {boolean} options.teacher
 * @param {boolean} options.open whether the emoji picker is open
 * @param {Record<string, {id: string, name: string}[]> | null} options.who fetched reactors
 */
export function reactionRow(id, { t, entry, canReact, teacher, open, who }) {
  const label = (emoji) => t.t(`reactions.name.${EMOJI_NAMES[emoji]}`);
  const row = h('div', { class: 'reactions', role: 'group', 'aria-label': t.t('reactions.group'), 'data-for': id });
  for (const emoji of EMOJIS) {
    const count = entry.counts[emoji];
    if (!count) continue;
    row.append(h('button', {
      type: 'button', class: 'reaction', 'data-emoji': emoji, disabled: !canReact,
      'aria-pressed': String(entry.mine.includes(emoji)),
      'aria-label': t.t('reactions.count', { name: label(emoji), count }),
    }, h('span', { 'aria-hidden': 'true' }, `${emoji} ${count}`)));
  }
  if (canReact) {
    row.append(h('button', {
      type: 'button', class: 'react-add', 'data-act': 'add', 'aria-expanded': String(open),
      'aria-label': t.t('reactions.add'), title: t.t('reactions.add'),
    }, h('span', { 'aria-hidden': 'true' }, '+\u{1F642}')));
  }
  if (canReact && open) {
    row.append(h('span', { class: 'picker' }, ...EMOJIS.map((emoji) => h('button', {
      type: 'button', class: 'pick', 'data-emoji': emoji,
      'aria-pressed': String(entry.mine.includes(emoji)), 'aria-label': label(emoji), title: label(emoji),
    }, h('span', { 'aria-hidden': 'true' }, emoji)))));
  }
  const any = Object.keys(entry.counts).length > 0;
  if (teacher && any) {
    row.append(h('button', {
      type: 'button', class: 'react-who', 'data-act': 'who', 'aria-expanded': String(Boolean(who)),
    }, t.t('reactions.who')));
  }
  if (teacher && any && who) {
    row.append(h('ul', { class: 'who' }, ...EMOJIS.filter((e) => who[e]?.length).map((emoji) => h('li', {},
      h('span', { 'aria-hidden': 'true' }, `${emoji} `), h('span', { class: 'vh' }, `${label(emoji)}: `),
      who[emoji].map((person) => String(person?.name ?? '')).join(', ')))));
  }
  row.hidden = row.childElementCount === 0;
  return row;
}
