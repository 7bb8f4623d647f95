// Polls inside <twinspace-chat>: a vote form per poll the ChatState knows (radio buttons, or
// checkboxes for multiple choice) and the live counts. Texts come from the Translator; poll
// texts enter the DOM as text only. What is picked but not sent, and how a vote went, are the
// panel's own.

import { h } from './chat-view.js';

export class PollPanel {
  /** @type {Map<string, Set<number>>} choices picked but not yet sent */
  picked = new Map();
  status = new Map();

  /**
   * @param {{t: object, polls: () => Map<string, object>, mine: (id: string) => number[] | undefined,
   *          vote: (poll: string, choices: number[]) => Promise<unknown>,
   *          canVote: () => boolean, describe: (error: unknown) => string}} options
   */
  constructor({ t, polls, mine, vote, canVote, describe }) {
    this.t = t;
    this.polls = polls;
    this.mine = mine;
    this.vote = vote;
    this.canVote = canVote;
    this.describe = describe;
    this.el = h('section', { class: 'polls', hidden: true });
    this.el.addEventListener('change', (event) => this.#onPick(event));
    this.el.addEventListener('submit', (event) => this.#onSubmit(event));
  }

  render() {
    const t = this.t;
    if (!t) return;
    const items = [...this.polls().values()].map((poll) => {
      const mine = new Set(this.mine(poll.id) ?? []);
      const picked = this.picked.get(poll.id) ?? mine;
      const disabled = !poll.open || !this.canVote();
      const options = poll.options.map((text, i) => h('label', { class: 'poll-option' },
        h('input', {
          type: poll.multiple ? 'checkbox' : 'radio', name: `poll-${poll.id}`, value: String(i),
          checked: picked.has(i), disabled,
        }),
        ` ${text} `,
        h('span', { class: 'count', 'data-option': String(i) }, String(poll.counts?.[i] ?? 0))));
      const form = h('form', { class: 'poll', 'data-poll': poll.id, 'data-open': String(poll.open) },
        h('fieldset', {}, h('legend', {}, `${t.t('poll.title')}: ${poll.question}`), ...options),
        poll.multiple && poll.open ? h('p', { class: 'hint' }, t.t('poll.multiple')) : null,
        h('p', { class: 'poll-votes' }, t.t('poll.votes', { count: poll.voted ?? 0 })));
      if (poll.open && this.canVote()) {
        form.append(h('button', { class: 'vote', type: 'submit' }, t.t('poll.vote')));
      }
      const status = poll.open ? this.status.get(poll.id) : t.t('poll.closed');
      form.append(h('p', { class: 'poll-status', role: 'status' }, status ?? ''));
      return form;
    });
    this.el.replaceChildren(...items);
    this.el.hidden = items.length === 0;
  }

  #onPick(event) {
    const form = event.target.closest?.('form[data-poll]');
    if (!form) return;
    const choices = [...form.querySelectorAll('input:checked')].map((input) => Number(input.value));
    this.picked.set(form.dataset.poll, new Set(choices));
  }

  async #onSubmit(event) {
    event.preventDefault();
    const form = event.target.closest?.('form[data-poll]');
    if (!form) return;
    const id = form.dataset.poll;
    const choices = [...form.querySelectorAll('input:checked')].map((input) => Number(input.value));
    if (choices.length === 0) return;
    try {
      await this.vote(id, choices);
      this.picked.delete(id);
      this.status.set(id, this.t.t('poll.voted'));
    } catch (error) {
      this.status.set(id, this.t.t('notice.vote_failed', { reason: this.describe(error) }));
    }
    this.render();
  }
}
