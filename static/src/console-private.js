// The console's "Private messages" panel (supervision, docs/protocol.md "Private messages"):
// every private message kept for the room, teacher <-> pupil and pupil <-> pupil, oldest first,
// read page by page from the teacher API (/api/private, paged like chat:history: "Show older"
// asks for the page before the oldest shown) and grown live as private messages arrive.
// Names and texts enter the DOM as text only.

const PAGE = 50;

/**
 * @param {object} deps what the console gives: `api(path, init)` (a fetch with the teacher's
 *   token that throws on an error answer), `t` (the translator), `el` (dom.js `h`), `$` (by id),
 *   `act(promise)` (shows a failure, returns null).
 * @returns {{ show(room: string): Promise<void>, add(message: object): void }}
 */
export function privateView({ api, t, el, $, act }) {
  let room = null;
  let shown = new Map(); // id -> message
  let more = false;

  function item(m) {
    const when = el('time', { datetime: new Date(m.ts).toISOString() }, t.dateTime(m.ts));
    return el('li', { 'data-id': m.id },
      el('p', { class: 'meta' }, el('strong', {}, String(m.user?.name ?? '')), ' ',
        t.t('chat.to_name', { name: String(m.to?.name ?? '') }), ' · ', when),
      el('p', { class: 'text' }, String(m.text ?? '')));
  }

  function render() {
    const ids = [...shown.keys()].sort();
    $('private-messages').replaceChildren(...ids.map((id) => item(shown.get(id))));
    $('no-private').hidden = ids.length > 0;
    $('private-older').hidden = !more;
  }

  async function page(name, before) {
    const query = new URLSearchParams({ room: name, limit: String(PAGE) });
    if (before) query.set('before', before);
    const response = await act(api(`/api/private?${query}`));
    if (!response || room !== name) return false;
    const body = await response.json();
    for (const m of body.messages) shown.set(m.id, m);
    more = Boolean(body.more);
    render();
    return true;
  }

  async function show(name) {
    room = name;
    shown = new Map();
    more = false;
    render();
    await page(name, null);
  }

  $('private-refresh').addEventListener('click', () => room && show(room));
  $('private-older').addEventListener('click', async () => {
    if (!room) return;
    const oldest = [...shown.keys()].sort()[0];
    const before = $('private-messages').firstElementChild;
    if (await page(room, oldest) && $('private-older').hidden) {
      // the button went away with the last page: keep the reader where the new items are
      const first = $('private-messages').firstElementChild;
      if (first && first !== before) {
        first.tabIndex = -1;
        first.focus();
      }
    }
  });

  /** A private message seen live in the open room. */
  function add(message) {
    if (!room || message?.room !== room || !message.id) return;
    shown.set(message.id, message);
    render();
  }

  return { show, add };
}
