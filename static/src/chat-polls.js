// Polls inside <twinspace-chat>: a vote form per poll the ChatState knows (radio buttons, or
// checkboxes for multiple choice; a text field for an open answer or a word cloud) and what
// the service shows of it: live counts (none while a hidden poll is open), a quiz's correct
// answer once revealed with whether this user's vote was right, the answers a teacher
// published, a word cloud. Texts come from the Translator; poll texts enter the DOM as text
// only. What is picked but not sent, and how a vote went, are the panel's own.

import { h } from './chat-view.js';
import { PollKinds } from './protocol.js';

const TEXT_MAX = { [PollKinds.TEXT]: 280, [PollKinds.CLOUD]: 40 };

/** The published answers of a text poll, as text (a teacher's copy lists every answer). */
function publishedAnswers(poll) {
  return (poll.answers ?? []).flatMap((a) => (typeof a === 'string' ? [a] : a?.published ? [String(a.text)] : []));
}

const sameChoices = (a, b) => a.length === b.length && [...a].sort().every((c, i) => c === [...b].sort()[i]);

export class PollPanel {
  /** @type {Map<string, Set<number>>} choices picked but not yet sent */
  picked = new Map();
  /** @type {Map<string, string>} answers typed but not yet sent */
  drafts = new Map();
  status = new Map();

  /**
   * @param {{t: object, polls: () => Map<string, object>, mine: (id: string) => number[] | undefined,
   *          mineText: (id: string) => string | undefined,
   *          vote: (poll: string, choices: number[]) => Promise<unknown>,
   *          answer: (poll: string, text: string) => Promise<unknown>,
   *          canVote: () => boolean, describe: (error: unknown) => string}} options
   */
  constructor({ t, polls, mine, mineText, vote, answer, canVote, describe }) {
    this.t = t;
    this.polls = polls;
    this.mine = mine;
    this.mineText = mineText;
    this.vote = vote;
    this.answer = answer;
    this.canVote = canVote;
    this.describe = describe;
    this.el = h('section', { class: 'polls', hidden: true });
    this.el.addEventListener('change', (event) => this.#onPick(event));
    this.el.addEventListener('input', (event) => {
      const form = event.target.closest?.('form[data-poll]');
      if (form && event.target.name === 'text') this.drafts.set(form.dataset.poll, event.target.value);
    });
    this.el.addEventListener('submit', (event) => this.#onSubmit(event));
  }

  render() {
    const t = this.t;
    if (!t) return;
    const items = [...this.polls().values()].map((poll) => {
      const textual = poll.kind === PollKinds.TEXT || poll.kind === PollKinds.CLOUD;
      const title = poll.kind === PollKinds.QUIZ ? t.t('poll.quiz') : t.t('poll.title');
      const body = textual ? this.#textBody(poll) : this.#choiceBody(poll);
      const form = h('form', { class: 'poll', 'data-poll': poll.id, 'data-open': String(poll.open), 'data-kind': poll.kind ?? 'choice' },
        h('fieldset', {}, h('legend', {}, `${title}: ${poll.question}`), ...body.fields),
        ...body.after,
        h('p', { class: 'poll-votes' }, t.t('poll.votes', { count: poll.voted ?? 0 })));
      if (poll.open && this.canVote()) {
        form.append(h('button', { class: 'vote', type: 'submit' }, textual ? t.t('poll.send') : t.t('poll.vote')));
      }
      const status = poll.open ? this.status.get(poll.id) : t.t('poll.closed');
      form.append(h('p', { class: 'poll-status', role: 'status' }, status ?? ''));
      return form;
    });
    // a re-render (someone else voted) keeps the field being typed in focused, caret and all
    const active = this.el.getRootNode().activeElement;
    const focused = active && this.el.contains(active) && active.id ? active : null;
    const caret = focused?.name === 'text' ? [focused.selectionStart, focused.selectionEnd] : null;
    this.el.replaceChildren(...items);
    this.el.hidden = items.length === 0;
    const again = focused && this.el.querySelector(`[id="${CSS.escape(focused.id)}"]`);
    if (again) {
      again.focus();
      if (caret) again.setSelectionRange(...caret);
    }
  }

  /** Options with counts; a revealed quiz marks its correct options and says right or wrong. */
  #choiceBody(poll) {
    const t = this.t;
    const mine = this.mine(poll.id) ?? [];
    const picked = this.picked.get(poll.id) ?? new Set(mine);
    const disabled = !poll.open || !this.canVote();
    const withheld = poll.open && poll.hidden && !(poll.counts?.length);
    const correct = poll.kind === PollKinds.QUIZ && poll.revealed ? new Set(poll.correct ?? []) : null;
    const fields = poll.options.map((text, i) => h('label', { class: 'poll-option', 'data-correct': correct?.has(i) ? 'true' : null },
      h('input', {
        type: poll.multiple ? 'checkbox' : 'radio', name: `poll-${poll.id}`, value: String(i),
        checked: picked.has(i), disabled,
      }),
      ` ${text} `,
      withheld ? null : h('span', { class: 'count', 'data-option': String(i) }, String(poll.counts?.[i] ?? 0)),
      correct?.has(i) ? h('span', { class: 'correct-mark' }, ` ✓ ${t.t('poll.correct')}`) : null));
    const after = [];
    if (poll.multiple && poll.open) after.push(h('p', { class: 'hint' }, t.t('poll.multiple')));
    if (withheld) after.push(h('p', { class: 'poll-note' }, t.t('poll.hidden')));
    if (correct && mine.length) {
      const right = sameChoices(mine, [...correct]);
      after.push(h('p', { class: `poll-verdict ${right ? 'right' : 'wrong'}` }, t.t(right ? 'poll.right' : 'poll.wrong')));
    }
    return { fields, after };
  }

  /** A text field (open answer or word cloud), the published answers, the cloud. */
  #textBody(poll) {
    const t = this.t;
    const fields = [];
    if (poll.open && this.canVote()) {
      const id = `poll-text-${poll.id}`;
      const hint = poll.kind === PollKinds.CLOUD ? h('p', { class: 'poll-note', id: `${id}-hint` }, t.t('poll.cloud_hint')) : null;
      fields.push(h('label', { for: id }, t.t('poll.answer')),
        h('input', {
          id, type: 'text', name: 'text', maxlength: String(TEXT_MAX[poll.kind]), autocomplete: 'off',
          value: this.drafts.get(poll.id) ?? this.mineText(poll.id) ?? '', 'aria-describedby': hint ? `${id}-hint` : null,
        }), hint);
    }
    const after = [];
    if (poll.kind === PollKinds.TEXT) {
      const shown = publishedAnswers(poll);
      if (shown.length) {
        after.push(h('p', { class: 'poll-published-title' }, t.t('poll.published')),
          h('ul', { class: 'poll-answers' }, ...shown.map((text) => h('li', {}, text))));
      }
    } else if (poll.open && poll.hidden && !(poll.cloud?.length)) {
      after.push(h('p', { class: 'poll-note' }, t.t('poll.hidden')));
    } else {
      const words = poll.cloud ?? [];
      const top = Math.max(1, ...words.map(([, n]) => Number(n) || 0));
      after.push(h('ul', { class: 'poll-cloud' }, ...words.map(([word, n]) => {
        const item = h('li', {}, `${word} (${n})`);
        item.style.fontSize = `${(1 + Number(n) / top).toFixed(2)}em`; // bigger for more
        return item;
      })));
    }
    return { fields, after };
  }

  #onPick(event) {
    const form = event.target.closest?.('form[data-poll]');
    if (!form || event.target.type === 'text') return;
    const choices = [...form.querySelectorAll('input:checked')].map((input) => Number(input.value));
    this.picked.set(form.dataset.poll, new Set(choices));
  }

  async #onSubmit(event) {
    event.preventDefault();
    const form = event.target.closest?.('form[data-poll]');
    if (!form) return;
    const id = form.dataset.poll;
    const field = form.querySelector('input[name="text"]');
    const choices = [...form.querySelectorAll('input:checked')].map((input) => Number(input.value));
    if (field ? !field.value.trim() : choices.length === 0) return;
    try {
      if (field) await this.answer(id, field.value);
      else await this.vote(id, choices);
      this.picked.delete(id);
      this.drafts.delete(id);
      this.status.set(id, this.t.t(field ? 'poll.answered' : 'poll.voted'));
    } catch (error) {
      this.status.set(id, this.t.t('notice.vote_failed', { reason: this.describe(error) }));
    }
    this.render();
  }
}
