// How a teacher's split deals the pupils present into breakout groups (room-groups.js): at
// random, mixing schools (each group holds pupils of every school present, from the members'
// `school`), or by hand. Pure functions: the service only receives the resulting lists
// (`mod:breakout`, docs/protocol.md "Breakout rooms").

/** `ids` shuffled (Fisher–Yates) with `random`. */
function shuffled(ids, random) {
  const out = [...ids];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** `pupils` (ids) shuffled and dealt into `count` groups, none empty. */
export function dealGroups(pupils, count, random = Math.random) {
  const ids = shuffled(pupils, random);
  const n = Math.max(1, Math.min(count, ids.length));
  const groups = Array.from({ length: n }, () => []);
  ids.forEach((id, i) => groups[i % n].push(id));
  return groups.filter((g) => g.length);
}

/**
 * `pupils` (`{id, school?}`) dealt into at most `count` groups so that every group holds pupils
 * of every school present: there are no more groups than the smallest school has pupils.
 * Each school's pupils are shuffled and dealt in turn, one counter running across schools, so
 * group sizes differ by one at most; pupils without a school fill the smallest groups.
 * @returns {string[][]} none empty
 */
export function mixSchools(pupils, count, random = Math.random) {
  const bySchool = new Map();
  const loose = [];
  for (const { id, school } of pupils) {
    if (!school) loose.push(id);
    else bySchool.set(school, [...(bySchool.get(school) ?? []), id]);
  }
  const schools = [...bySchool.values()].map((ids) => shuffled(ids, random));
  const smallest = Math.min(pupils.length, ...schools.map((ids) => ids.length));
  const n = Math.max(1, Math.min(count, smallest));
  const groups = Array.from({ length: n }, () => []);
  let i = 0;
  for (const ids of schools) {
    for (const id of ids) groups[(i++) % n].push(id);
  }
  for (const id of shuffled(loose, random)) {
    groups.reduce((small, g) => (g.length < small.length ? g : small)).push(id);
  }
  return groups.filter((g) => g.length);
}

/**
 * A by-hand assignment (user id → group number, 1-based; 0 or missing: stays in the main room)
 * as the groups' lists, in group order, empty groups dropped.
 * @param {Map<string, number>} assignment
 */
export function handGroups(assignment) {
  const groups = new Map();
  for (const [id, n] of assignment) {
    if (Number.isInteger(n) && n > 0) groups.set(n, [...(groups.get(n) ?? []), id]);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((n) => groups.get(n));
}
