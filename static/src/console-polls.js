// The console's polls: the form to create one (choice, quiz with its correct options, open
// answer, word cloud; hidden results), each poll of the room with its results as teachers see
// them (counts, a quiz's correct options, a text poll's answers with their authors in a named
// poll, a word cloud), and what a teacher does with one: close, reveal a quiz's answer, publish
// answers, export its CSV (/api/rooms/R/polls/P?format=csv); the quiz scores of the lesson.
// User data enters the DOM as text only.

import { PollKinds } from './protocol.js';

const MIN_OPTIONS = 2;
const MAX_OPTIONS = 10;

/**
 * @param {object} deps what the console gives: `client` (a LiveClient), `t`, `el` (dom.js `h`),
 *   `$` (by id), `api`, `act`, `moderated` (act, then refresh the audit), `announce`,
 *   `download(response, name)`, `keepFocus(container, render)`, `state` (the console's: `room`,
 *   `polls`).
 * @returns {{ render(): void, loadClosed(room: string): Promise<void> }}
 */
export function pollViews({ client, t, el, $, api, act, moderated, announce, download, keepFocus, state }) {
  /** Per option: its count as a bar; a quiz's correct options marked. */
  function optionResults(poll) {
    const counts = poll.counts ?? [];
    const total = counts.reduce((sum, n) => sum + (Number(n) || 0), 0);
    const correct = new Set(poll.kind === PollKinds.QUIZ ? poll.correct ?? [] : []);
    return el('ol', { class: 'results' }, ...poll.options.map((text, i) => {
      const count = Number(counts[i] ?? 0);
      const fill = el('span', { class: 'fill' });
      fill.style.width = `${total ? Math.round((count / total) * 100) : 0}%`;
      return el('li', { 'data-correct': correct.has(i) ? 'true' : null },
        el('div', { class: 'line' }, el('span', { class: 'option' }, String(text),
          correct.has(i) ? el('span', { class: 'correct-mark' }, ` ✓ ${t.t('poll.correct')}`) : null),
        el('span', { class: 'count', 'data-option': i }, String(count))),
        el('div', { class: 'bar', 'aria-hidden': 'true' }, fill));
    }));
  }
  /** A text poll's answers, each with its author (named polls) and a button to publish it. */
  function textAnswers(poll) {
    return el('ul', { class: 'answers' }, ...(poll.answers ?? []).map((a) => {
      if (typeof a === 'string') return el('li', {}, a);
      const item = el('li', { 'data-answer': a.id }, el('span', { class: 'answer-text' }, String(a.text)));
      if (a.name) item.append(' ', el('span', { class: 'answer-by' }, `— ${a.name}`));
      if (a.flagged) item.append(' ', el('span', { class: 'badge warn' }, t.t('console.flagged')));
      if (a.published) item.append(' ', el('span', { class: 'badge' }, t.t('console.published')));
      else if (poll.kind === PollKinds.TEXT) {
        item.append(' ', el('button', { type: 'button', class: 'small', 'data-act': `publish-${a.id}`,
          'aria-label': `${t.t('console.publish')}: ${a.text}` }, t.t('console.publish')));
      }
      return item;
    }));
  }
  function cloudWords(poll) {
    return el('ul', { class: 'cloud' }, ...(poll.cloud ?? []).map(([word, n]) => el('li', {}, `${word} (${n})`)));
  }
  function pollButton(act, key, poll) {
    return el('button', { type: 'button', class: 'small', 'data-act': act, 'aria-label': `${t.t(key)}: ${poll.question}` }, t.t(key));
  }
  function render() {
    const polls = [...state.polls.values()].reverse();
    const list = $('polls');
    keepFocus(list, () => list.replaceChildren(...polls.map((poll) => {
      const kind = poll.kind ?? PollKinds.CHOICE;
      const body = kind === PollKinds.TEXT ? textAnswers(poll)
        : kind === PollKinds.CLOUD ? el('div', {}, cloudWords(poll), poll.answers ? textAnswers(poll) : null)
          : optionResults(poll);
      const kinds = el('p', { class: 'kinds' });
      if (kind !== PollKinds.CHOICE) kinds.append(el('span', { class: 'badge' }, t.t(`console.kind_${kind}`)));
      if (poll.multiple) kinds.append(el('span', { class: 'badge' }, t.t('console.multiple')));
      if (poll.anonymous) kinds.append(el('span', { class: 'badge' }, t.t('console.anonymous')));
      if (poll.hidden) kinds.append(el('span', { class: 'badge' }, t.t('console.hidden')));
      const foot = el('div', { class: 'foot' }, el('p', {}, t.t('console.votes', { count: poll.voted ?? 0 })));
      if (kind === PollKinds.QUIZ && !poll.revealed) foot.append(pollButton('reveal', 'console.reveal', poll));
      if (kind === PollKinds.TEXT && (poll.answers ?? []).some((a) => !a.published && !a.flagged)) {
        foot.append(pollButton('publish', 'console.publish_all', poll));
      }
      foot.append(pollButton('csv', 'console.export_csv', poll));
      if (poll.open) {
        foot.append(el('button', { type: 'button', class: 'small', 'data-close': poll.id,
          'aria-label': `${t.t('console.close_poll')}: ${poll.question}` }, t.t('console.close_poll')));
      } else {
        foot.append(el('span', { class: 'badge closed' }, t.t('console.poll_closed')));
      }
      return el('li', { 'data-poll': poll.id, 'data-key': poll.id, 'data-open': String(poll.open), 'data-kind': kind },
        el('p', { class: 'question' }, String(poll.question)),
        kinds.childElementCount ? kinds : null, body, foot);
    })));
  }
  async function pollAction(poll, actName) {
    const room = state.room;
    if (actName === 'csv') {
      const response = await act(api(`/api/rooms/${encodeURIComponent(room)}/polls/${encodeURIComponent(poll)}?format=csv`));
      if (response) await download(response, `${room}-poll-${poll}.csv`);
      return;
    }
    const ack = await act(actName === 'reveal' ? client.revealPoll(room, poll)
      : actName === 'publish' ? client.publishAnswers(room, poll)
        : client.publishAnswers(room, poll, [actName.slice('publish-'.length)]));
    if (ack?.poll && room === state.room) {
      state.polls.set(ack.poll.id, ack.poll);
      render();
    }
  }
  $('polls').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-close]');
    if (button) moderated(client.closePoll(state.room, button.dataset.close));
    const action = event.target.closest('button[data-act]');
    if (action) pollAction(action.closest('[data-poll]').dataset.poll, action.dataset.act);
  });
  $('poll-scores-show').addEventListener('click', async () => {
    const ack = await act(client.pollScores(state.room));
    if (!ack) return;
    const list = $('poll-scores');
    list.replaceChildren(...ack.scores.map((row) => el('li', {},
      t.t('console.score_row', { name: row.name, right: row.right, answered: row.answered }))));
    list.hidden = false;
    announce('console.scores');
  });

  function optionRow() {
    return el('li', {}, el('input', { name: 'option', required: true, maxlength: '200', autocomplete: 'off' }),
      el('label', { class: 'check correct-pick' }, el('input', { type: 'checkbox', name: 'correct' }), ' ',
        el('span', {}, t.t('console.correct'))),
      el('button', { type: 'button', class: 'small remove-option' }));
  }
  /** The form for the chosen kind: options for choice and quiz (with their correct ones for a quiz). */
  function showKind() {
    const kind = $('poll-kind').value;
    const textual = kind === PollKinds.TEXT || kind === PollKinds.CLOUD;
    $('poll-answers').hidden = textual;
    $('poll-multiple').closest('label').hidden = textual;
    for (const input of $('poll-options').querySelectorAll('input[name="option"]')) input.disabled = textual;
    for (const pick of $('poll-options').querySelectorAll('.correct-pick')) pick.hidden = kind !== PollKinds.QUIZ;
  }
  $('poll-kind').addEventListener('change', showKind);
  function renumberOptions() {
    const rows = [...$('poll-options').children];
    rows.forEach((row, i) => {
      const n = i + 1;
      row.querySelector('input').setAttribute('aria-label', t.t('console.option', { n }));
      row.querySelector('input').required = i < MIN_OPTIONS;
      row.querySelector('input[name="correct"]').setAttribute('aria-label', `${t.t('console.correct')}: ${t.t('console.option', { n })}`);
      const remove = row.querySelector('button');
      remove.textContent = '×';
      remove.setAttribute('aria-label', t.t('console.remove_option', { n }));
      remove.hidden = rows.length <= MIN_OPTIONS;
    });
    $('add-option').hidden = rows.length >= MAX_OPTIONS;
    showKind();
  }
  function resetOptions() {
    $('poll-options').replaceChildren(...Array.from({ length: MIN_OPTIONS + 1 }, optionRow));
    renumberOptions();
  }
  resetOptions();
  $('add-option').addEventListener('click', () => {
    const row = optionRow();
    $('poll-options').append(row);
    renumberOptions();
    row.querySelector('input').focus();
  });
  $('poll-options').addEventListener('click', (event) => {
    const row = event.target.closest('button.remove-option')?.closest('li');
    if (!row) return;
    const next = row.nextElementSibling ?? row.previousElementSibling;
    row.remove();
    renumberOptions();
    next?.querySelector('input')?.focus();
  });
  $('poll-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const kind = $('poll-kind').value;
    const rows = [...$('poll-options').children].filter((row) => row.querySelector('input[name="option"]').value.trim());
    const options = rows.map((row) => row.querySelector('input[name="option"]').value.trim());
    const correct = rows.flatMap((row, i) => (row.querySelector('input[name="correct"]').checked ? [i] : []));
    const textual = kind === PollKinds.TEXT || kind === PollKinds.CLOUD;
    const ack = await act(client.createPoll(state.room, {
      question: $('poll-question').value, options, kind,
      multiple: textual ? undefined : $('poll-multiple').checked, anonymous: $('poll-anonymous').checked,
      hidden: $('poll-hidden').checked || undefined, correct: kind === PollKinds.QUIZ ? correct : undefined,
    }));
    if (ack) {
      state.polls.set(ack.poll.id, ack.poll);
      render();
      event.target.reset();
      resetOptions();
    }
  });

  /** The room's closed polls still kept (the join ack has the open ones), for their results and CSV. */
  async function loadClosed(room) {
    let polls;
    try {
      polls = (await (await api(`/api/rooms/${encodeURIComponent(room)}/polls`)).json()).polls;
    } catch {
      return; // the open polls are shown all the same
    }
    if (room !== state.room) return;
    for (const poll of polls) if (!state.polls.has(poll.id)) state.polls.set(poll.id, poll);
    state.polls = new Map([...state.polls.values()].sort((x, y) => x.id.localeCompare(y.id)).map((p) => [p.id, p]));
    render();
  }

  return { render, loadClosed };
}
