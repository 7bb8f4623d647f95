// Check the message catalogs in static/i18n/ against en.json. Fails (exit 1) when a catalog
// is missing, unexpected, not valid JSON, or when any catalog
//   - misses a key of en.json or adds one,
//   - gives a plain string where en.json has plural forms or the other way round,
//   - uses other {placeholders} than en.json,
//   - lacks a plural form its language needs for whole numbers, or has one it never uses,
//   - has an empty string.
import { readFile, readdir } from 'node:fs/promises';
import { LANGUAGES } from '../src/i18n.js';

const dir = new URL('../i18n/', import.meta.url);
const problems = [];
const problem = (lang, text) => problems.push(`${lang}.json: ${text}`);

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');

/** The plural categories whole numbers reach in a language, and all it has. */
function pluralCategories(lang) {
  const rules = new Intl.PluralRules(lang);
  const needed = new Set();
  for (let n = 0; n <= 1000; n += 1) needed.add(rules.select(n));
  return { needed, allowed: new Set(rules.resolvedOptions().pluralCategories) };
}

async function load(lang) {
  try {
    return JSON.parse(await readFile(new URL(`${lang}.json`, dir), 'utf8'));
  } catch (error) {
    problem(lang, error.code === 'ENOENT' ? 'missing' : `unreadable: ${error.message}`);
    return null;
  }
}

function checkValue(lang, key, value, reference, plurals) {
  if (typeof reference === 'string') {
    if (typeof value !== 'string') return problem(lang, `${key}: must be a string`);
    if (!value.trim()) return problem(lang, `${key}: empty`);
    if (placeholders(value) !== placeholders(reference)) {
      problem(lang, `${key}: placeholders {${placeholders(value)}} differ from en {${placeholders(reference)}}`);
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return problem(lang, `${key}: must be an object of plural forms`);
  }
  const expected = placeholders(reference.other);
  for (const category of plurals.needed) {
    if (!(category in value)) problem(lang, `${key}: lacks the plural form "${category}"`);
  }
  for (const [category, form] of Object.entries(value)) {
    if (!plurals.allowed.has(category)) problem(lang, `${key}: "${category}" is no plural form of ${lang}`);
    else if (typeof form !== 'string' || !form.trim()) problem(lang, `${key}.${category}: empty`);
    else if (placeholders(form) !== expected && placeholders(form) !== '') {
      problem(lang, `${key}.${category}: placeholders {${placeholders(form)}} differ from en {${expected}}`);
    }
  }
  return undefined;
}

const en = await load('en');
if (!en) {
  console.error(problems.join('\n'));
  process.exit(1);
}
const files = (await readdir(dir)).filter((name) => name.endsWith('.json'));
for (const name of files) {
  if (!LANGUAGES.includes(name.slice(0, -5))) problem(name.slice(0, -5), 'not in LANGUAGES of static/src/i18n.js');
}
for (const lang of LANGUAGES) {
  const catalog = await load(lang);
  if (!catalog) continue;
  const plurals = pluralCategories(lang);
  for (const key of Object.keys(en)) {
    if (!(key in catalog)) problem(lang, `misses "${key}"`);
    else checkValue(lang, key, catalog[key], en[key], plurals);
  }
  for (const key of Object.keys(catalog)) if (!(key in en)) problem(lang, `adds "${key}"`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`check-catalogs: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-catalogs: ${LANGUAGES.length} catalogs, ${Object.keys(en).length} keys each: ok`);
