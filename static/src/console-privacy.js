// The console's privacy views: the space's retention (each school's limit and the effective
// one, and a form to set the caller's school's limit) and a room's attendance per school with
// durations, exported as CSV. They read the teacher API (/api/policy, /api/rooms/R/attendance);
// user data enters the DOM as text only.

const MINUTE_MS = 60_000;

/**
 * @param {object} deps what the console gives: `api(path, init)` (a fetch with the teacher's
 *   token that throws on an error answer), `t` (the translator), `el` (dom.js `h`), `$` (by id),
 *   `act(promise)` (shows a failure, returns null), `claims` (the token's), `download(response, name)`.
 * @returns {{ showAttendance(room: string): Promise<void> }}
 */
export function privacyViews({ api, t, el, $, act, claims, download }) {
  const school = typeof claims?.school === 'string' && claims.school ? claims.school : null;
  let room = null;

  function renderPolicy(policy) {
    $('retention-effective').textContent = t.t('console.retention_effective', { days: Number(policy.history_days) });
    const schools = Object.entries(policy.schools ?? {});
    $('retention-schools').tBodies[0].replaceChildren(...schools.map(([name, days]) => el('tr', {},
      el('td', {}, name), el('td', {}, t.numbers.format(Number(days))))));
    $('retention-schools').hidden = schools.length === 0;
    $('no-limits').hidden = schools.length > 0;
    if (school && policy.schools?.[school] !== undefined) $('retention-days').value = String(policy.schools[school]);
  }

  async function refreshPolicy() {
    const response = await act(api('/api/policy'));
    if (response) renderPolicy(await response.json());
  }

  $('retention-form').hidden = !school;
  $('retention-no-school').hidden = Boolean(school);
  $('retention-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const days = Number($('retention-days').value);
    const response = await act(api('/api/policy', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ history_days: days }),
    }));
    if (response) renderPolicy(await response.json());
  });
  refreshPolicy();

  /** Visits grouped by school (no school last), each with its minutes in the room. */
  function renderAttendance(visits) {
    const now = Date.now();
    const groups = new Map();
    for (const v of visits) {
      const key = v.school ?? '';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(v);
    }
    const names = [...groups.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
    $('attendance').replaceChildren(...names.map((name, i) => {
      const rows = groups.get(name);
      const total = rows.reduce((sum, v) => sum + minutes(v, now), 0);
      const id = `attendance-school-${i}`;
      return el('section', { class: 'attendance-school', 'aria-labelledby': id },
        el('h4', { id }, `${name || t.t('console.no_school')} · ${t.numbers.format(rows.length)} · ${
          t.numbers.format(total)} ${t.t('console.minutes')}`),
        el('div', { class: 'table-wrap' }, el('table', {},
          el('thead', {}, el('tr', {}, ...['name', 'role', 'joined', 'left', 'minutes'].map((k) =>
            el('th', { scope: 'col' }, t.t(`console.${k}`))))),
          el('tbody', {}, ...rows.map((v) => el('tr', {},
            el('td', {}, String(v.name)),
            el('td', {}, t.t(`role.${v.role}`)),
            el('td', {}, el('time', { datetime: new Date(v.joined).toISOString() }, t.dateTime(v.joined))),
            el('td', {}, v.left == null ? t.t('console.still_here')
              : el('time', { datetime: new Date(v.left).toISOString() }, t.dateTime(v.left))),
            el('td', {}, t.numbers.format(minutes(v, now)))))))));
    }));
    $('no-attendance').hidden = visits.length > 0;
  }

  async function showAttendance(name) {
    room = name;
    const response = await act(api(`/api/rooms/${encodeURIComponent(name)}/attendance`));
    if (response && room === name) renderAttendance(await response.json());
  }

  $('attendance-refresh').addEventListener('click', () => room && showAttendance(room));
  $('attendance-csv').addEventListener('click', async () => {
    if (!room) return;
    const response = await act(api(`/api/rooms/${encodeURIComponent(room)}/attendance?format=csv`));
    if (response) await download(response, `${room}-attendance.csv`);
  });

  return { showAttendance };
}

function minutes(visit, now) {
  return Math.round(((visit.left ?? now) - visit.joined) / MINUTE_MS * 10) / 10;
}
