// The console's safeguarding panels (docs/protocol.md "Message filter", "Schools in view"):
// the space's message filter (an action per rule, words to add and to allow, allowed sites),
// the queue of held messages with "let through" / "refuse", and news about the teacher's own
// school's pupils. Rules and the queue go through the teacher HTTP API; the live events
// (filter:held, filter:resolved, school:notice) keep the panels current. Text enters the DOM as
// text only.

import { ServerEvents } from './protocol.js';
import { h as el } from './dom.js';

const RULES = ['words', 'phone', 'email', 'handle', 'link'];
const ACTIONS = ['off', 'flag', 'hold', 'block'];
const SCHOOL_NEWS_KEPT = 20;
const $ = (id) => document.getElementById(id);
const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

/**
 * Wire the panels. `api(path, init)` calls the teacher API (rejects on an error status);
 * `act(promise)` shows a failure; `announce(key, params)` speaks to screen readers.
 */
export function safeguardPanels({ t, client, api, act, announce }) {
  const held = new Map();

  function renderRules(config) {
    const rows = RULES.map((rule) => {
      const id = `filter-${rule}`;
      const select = el('select', { id, 'data-rule': rule },
        ...ACTIONS.map((a) => el('option', { value: a }, t.t(`console.action_${a}`))));
      select.value = config.actions[rule];
      return el('div', { class: 'field' }, el('label', { for: id }, t.t(`console.rule_${rule}`)), select);
    });
    $('filter-rules').replaceChildren(...rows);
    $('filter-added').value = config.added.join('\n');
    $('filter-removed').value = config.removed.join('\n');
    $('filter-domains').value = config.allowed_domains.join('\n');
  }

  async function loadRules() {
    const response = await act(api('/api/filter'));
    if (response) renderRules(await response.json());
  }

  $('filter-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const actions = {};
    for (const select of $('filter-rules').querySelectorAll('select')) actions[select.dataset.rule] = select.value;
    const body = {
      actions, added: lines($('filter-added').value), removed: lines($('filter-removed').value),
      allowed_domains: lines($('filter-domains').value),
    };
    const response = await act(api('/api/filter', { method: 'PUT', body: JSON.stringify(body) }));
    if (response) {
      renderRules(await response.json());
      $('filter-status').textContent = t.t('console.filter_saved');
    }
  });

  function renderHeld() {
    const items = [...held.values()].sort((a, b) => a.ts - b.ts).map((m) => {
      const name = String(m.user?.name ?? m.user?.id ?? '');
      const who = el('p', { class: 'who' }, el('bdi', { class: 'name' }, name));
      if (m.school) who.append(schoolBadge(t, m.school));
      who.append(el('span', { class: 'role' }, m.room));
      // a private message: released, it goes to this member only
      if (m.to) who.append(el('span', { class: 'badge private' }, t.t('chat.private')), ' ',
        el('bdi', {}, t.t('chat.to_name', { name: String(m.to.name ?? '') })));
      who.append(el('span', { class: 'badge warn' },
        m.rules.map((r) => t.t(`console.rule_${r}`)).join(', ')));
      return el('li', { 'data-key': m.id, 'data-held': m.id }, who,
        el('p', { class: 'text' }, el('bdi', {}, String(m.text ?? ''))),
        el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'small', 'data-act': 'release',
            'aria-label': `${t.t('console.release')}: ${name}` }, t.t('console.release')),
          el('button', { type: 'button', class: 'small danger', 'data-act': 'refuse',
            'aria-label': `${t.t('console.refuse')}: ${name}` }, t.t('console.refuse'))));
    });
    $('held').replaceChildren(...items);
    $('no-held').hidden = items.length > 0;
  }

  async function loadHeld() {
    const response = await act(api('/api/held'));
    if (!response) return;
    held.clear();
    for (const m of (await response.json()).held) held.set(m.id, m);
    renderHeld();
  }

  $('held').addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-act]');
    const id = button?.closest('[data-held]')?.dataset.held;
    if (!id) return;
    const release = button.dataset.act === 'release';
    const done = await act(api(`/api/held/${encodeURIComponent(id)}`,
      { method: 'POST', body: JSON.stringify({ release }) }));
    held.delete(id);
    renderHeld();
    if (!done) loadHeld();
  });

  client.on(ServerEvents.FILTER_HELD, ({ held: m }) => {
    held.set(m.id, m);
    renderHeld();
    announce('console.held');
  });
  client.on(ServerEvents.FILTER_RESOLVED, ({ id }) => { held.delete(id); renderHeld(); });

  client.on(ServerEvents.SCHOOL_NOTICE, (notice) => {
    const params = { name: String(notice.user?.name ?? ''), room: String(notice.room ?? '') };
    const text = t.t(`school.${notice.action}`, params);
    const list = $('school-news');
    list.prepend(el('li', {}, el('bdi', {}, text)));
    while (list.children.length > SCHOOL_NEWS_KEPT) list.lastChild.remove();
    announce(`school.${notice.action}`, params);
  });

  loadRules();
  loadHeld();
}

/** A member's school as a badge (the `school` claim). */
export function schoolBadge(t, school) {
  return el('span', { class: 'badge school', title: t.t('school.badge', { school }) }, String(school));
}
