// The console's safeguarding panels: the space's report queue (who reported what, when, with the
// messages around it, each resolved by delete / mute / dismiss), the room's waiting list (let in
// one pupil, a school or everyone, or refuse), the lobby and teacher-present switches, and the
// end of a lesson. Counts show on the panels' headings and in the tab title; a new report or a
// pupil arriving in the lobby is announced and chimes (teachers only: the console is theirs).
// Destructive steps ask for confirmation first. User data enters the DOM as text only.

import { ServerEvents } from './protocol.js';
import { h as el } from './dom.js';

const $ = (id) => document.getElementById(id);
const CONTEXT_SHOWN = 3;
const RESOLVE_CONFIRM = { delete: 'console.confirm_delete', mute: null, dismiss: null };

/** A short two-note chime through Web Audio (no file to fetch); silent where audio is blocked. */
export function chime() {
  try {
    const audio = new AudioContext();
    const gain = audio.createGain();
    gain.gain.value = 0.05;
    gain.connect(audio.destination);
    [660, 880].forEach((frequency, i) => {
      const tone = audio.createOscillator();
      tone.frequency.value = frequency;
      tone.connect(gain);
      tone.start(audio.currentTime + i * 0.15);
      tone.stop(audio.currentTime + i * 0.15 + 0.12);
    });
    setTimeout(() => audio.close(), 600);
  } catch {
    // no audio here: the badge and the announcement say it
  }
}

/**
 * @param {{client: object, t: object, api: Function, act: Function, moderated: Function,
 *   announce: Function, state: {room: string|null}}} deps
 */
export function safeguarding({ client, t, api, act, moderated, announce, state }) {
  const lesson = { reports: [], waiting: new Map(), lobby: false, supervised: true };
  const baseTitle = document.title;
  const here = (handler) => (detail) => { if (detail?.room === state.room) handler(detail); };

  function badge() {
    const open = lesson.reports.filter((r) => !r.resolved).length;
    const waiting = lesson.waiting.size;
    $('reports-count').textContent = String(open);
    $('reports-count').hidden = open === 0;
    $('waiting-count').textContent = String(waiting);
    $('waiting-count').hidden = waiting === 0;
    document.title = open + waiting ? `(${open + waiting}) ${baseTitle}` : baseTitle;
  }

  // ---- reports ------------------------------------------------------------------------
  function line(message, extra = null) {
    return el('li', { class: extra }, el('bdi', { class: 'name' }, String(message.user?.name ?? '')), ': ',
      el('span', { dir: 'auto' }, String(message.text ?? '')));
  }
  function renderReports() {
    const open = lesson.reports.filter((r) => !r.resolved);
    $('reports').replaceChildren(...open.map((r) => {
      const context = el('ol', { class: 'context' },
        ...(r.context?.before ?? []).slice(-CONTEXT_SHOWN).map((m) => line(m)),
        line(r.message, 'reported'),
        ...(r.context?.after ?? []).slice(0, CONTEXT_SHOWN).map((m) => line(m)));
      const author = String(r.message.user?.name ?? '');
      const actions = el('div', { class: 'actions' }, ...['delete', 'mute', 'dismiss']
        .filter((action) => action !== 'mute' || r.message.user?.role !== 'teacher')
        .map((action) => el('button', {
          type: 'button', class: `small${action === 'dismiss' ? '' : ' danger'}`, 'data-resolve': action,
          'aria-label': `${t.t(`console.report_${action}`)}: ${author}`,
        }, t.t(`console.report_${action}`))));
      return el('li', { 'data-report': r.id, 'data-key': r.id },
        el('p', { class: 'meta' }, el('span', { class: 'badge' }, String(r.room)), ' ',
          r.by ? t.t('console.reported_by', { name: String(r.by.name ?? '') }) : t.t('console.reported_by_filter'), ' ',
          el('time', { datetime: new Date(r.ts).toISOString() }, t.dateTime(r.ts))),
        r.reason ? el('p', { class: 'reason', dir: 'auto' }, t.t('console.reason', { reason: String(r.reason) })) : null,
        context, actions);
    }));
    $('no-reports').hidden = open.length > 0;
    badge();
  }
  async function refreshReports() {
    try {
      lesson.reports = (await (await api('/api/reports')).json()).reports;
    } catch {
      return; // the next report or refresh tries again; the console's alert shows lasting failures
    }
    renderReports();
  }
  $('reports').addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-resolve]');
    const id = button?.closest('li[data-report]')?.dataset.report;
    if (!id) return;
    const action = button.dataset.resolve;
    const question = RESOLVE_CONFIRM[action];
    if (question && !window.confirm(t.t(question))) return;
    const ack = await moderated(client.resolveReport(id, action));
    if (ack?.report) {
      lesson.reports = lesson.reports.map((r) => (r.id === id ? { ...r, resolved: ack.report.resolved } : r));
      renderReports();
    }
  });
  client.on(ServerEvents.REPORT_NEW, ({ room }) => {
    announce('console.new_report', { room: String(room) });
    chime();
    refreshReports();
  });
  client.on(ServerEvents.REPORT_RESOLVED, ({ report }) => {
    lesson.reports = lesson.reports.map((r) => (r.id === report?.id ? { ...r, resolved: report.resolved } : r));
    renderReports();
  });

  // ---- the lobby ----------------------------------------------------------------------
  function renderWaiting() {
    const people = [...lesson.waiting.values()];
    $('waiting').replaceChildren(...people.map((w) => {
      const name = String(w.name ?? '');
      const who = el('p', { class: 'who' }, el('bdi', { class: 'name' }, name),
        w.school ? el('span', { class: 'badge' }, String(w.school)) : null);
      return el('li', { 'data-user': w.id, 'data-key': w.id }, who, el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'small', 'data-admit': 'true', 'aria-label': `${t.t('console.admit')}: ${name}` },
          t.t('console.admit')),
        el('button', { type: 'button', class: 'small danger', 'data-admit': 'false', 'aria-label': `${t.t('console.refuse')}: ${name}` },
          t.t('console.refuse'))));
    }));
    const schools = [...new Set(people.map((w) => w.school).filter(Boolean))].sort();
    $('admit-schools').replaceChildren(...schools.map((school) => el('button', {
      type: 'button', class: 'small', 'data-school': school,
    }, t.t('console.admit_school', { school: String(school) }))));
    $('admit-all').hidden = people.length === 0;
    $('no-waiting').hidden = people.length > 0;
    badge();
  }
  $('waiting').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-admit]');
    const user = button?.closest('li[data-user]')?.dataset.user;
    if (user) moderated(client.admit(state.room, { user }, button.dataset.admit === 'true'));
  });
  $('admit-schools').addEventListener('click', (event) => {
    const school = event.target.closest('button[data-school]')?.dataset.school;
    if (school) moderated(client.admit(state.room, { school }, true));
  });
  $('admit-all').addEventListener('click', () => moderated(client.admit(state.room, { all: true }, true)));
  client.on(ServerEvents.LOBBY_WAITING, here(({ member }) => {
    lesson.waiting.set(member.id, member);
    renderWaiting();
    announce('console.waiting_now', { name: String(member.name ?? '') });
    chime();
  }));
  client.on(ServerEvents.LOBBY_DONE, here(({ users }) => {
    for (const id of users ?? []) lesson.waiting.delete(id);
    renderWaiting();
  }));

  // ---- switches and the end of a lesson --------------------------------------------------
  function renderSwitches() {
    $('lobby').checked = lesson.lobby;
    $('supervised').checked = lesson.supervised;
  }
  client.on(ServerEvents.ROOM_LOBBY, here(({ on }) => { lesson.lobby = Boolean(on); renderSwitches(); }));
  client.on(ServerEvents.ROOM_TEACHER_PRESENT, here(({ on }) => { lesson.supervised = Boolean(on); renderSwitches(); }));
  $('lobby').addEventListener('change', async (event) => {
    if (!(await moderated(client.setLobby(state.room, event.target.checked)))) renderSwitches();
  });
  $('supervised').addEventListener('change', async (event) => {
    if (!(await moderated(client.setSupervised(state.room, event.target.checked)))) renderSwitches();
  });
  $('end-lesson').addEventListener('click', () => {
    if (window.confirm(t.t('console.confirm_end'))) moderated(client.endLesson(state.room));
  });

  refreshReports();
  return {
    /** A room was opened (or joined again): its lobby, waiting list and rule. */
    load(ack) {
      lesson.lobby = Boolean(ack.lobby);
      lesson.supervised = ack.teacher_present !== false;
      lesson.waiting = new Map((ack.waiting ?? []).map((w) => [w.id, w]));
      renderSwitches();
      renderWaiting();
    },
    refreshReports,
  };
}
