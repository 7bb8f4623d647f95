// Message catalogs: choosing a language, loading its catalog, formatting strings.
//
// Catalogs are flat JSON objects, one per language in ../i18n/ (copied next to the bundle as
// ./i18n/). A value is either a string with `{name}` placeholders or, where a number decides the
// wording, an object keyed by Intl.PluralRules categories (`one`, `few`, `other`, ...) used with
// a `count` parameter. English is bundled and fills any gap.

import en from '../i18n/en.json' with { type: 'json' };

/** The 24 official EU languages, then Turkish, Ukrainian and Arabic. */
export const LANGUAGES = Object.freeze([
  'bg', 'cs', 'da', 'de', 'el', 'en', 'es', 'et', 'fi', 'fr', 'ga', 'hr', 'hu', 'it', 'lt', 'lv',
  'mt', 'nl', 'pl', 'pt', 'ro', 'sk', 'sl', 'sv', 'tr', 'uk', 'ar',
]);
export const DEFAULT_LANGUAGE = 'en';
const KNOWN_ERRORS = new Set([
  'bad_request', 'forbidden', 'not_found', 'not_joined', 'rate_limited', 'room_locked', 'banned',
  'muted', 'too_large', 'unavailable', 'timeout', 'disconnected', 'unauthorized', 'expired', 'waiting',
]);
const FILTER_RULES = new Set(['words', 'phone', 'email', 'handle', 'link']);

/**
 * The catalog key that explains an error code (an ack's, or a LiveError's) in plain words; a
 * message the space's filter refused says which rule (`reason`, the first rule named).
 */
export function errorKey(code, reason) {
  const rule = typeof reason === 'string' ? reason.split(',')[0] : '';
  if (code === 'forbidden' && FILTER_RULES.has(rule)) return `filter.${rule}`;
  if (code === 'waiting' && rule) return 'filter.held'; // a message held for a teacher
  return KNOWN_ERRORS.has(code) ? `error.${code}` : 'error.unknown';
}
const RTL_LANGUAGES = new Set(['ar', 'dv', 'fa', 'he', 'ku', 'ps', 'sd', 'ug', 'ur', 'yi']);

/**
 * The candidate language tags in order of preference: an explicit choice (an element's `lang`
 * attribute), then the token's `lang` claim, then the browser's languages.
 */
export function languageCandidates({ explicit, claim, browser = globalThis.navigator?.languages } = {}) {
  return [explicit, claim, ...(browser ?? [])].filter((tag) => typeof tag === 'string' && tag.trim());
}

/**
 * The first candidate we have a catalog for, matching BCP 47 tags by dropping subtags from the
 * end (`pt-BR` → `pt`, `sr-Latn-RS` → `sr-Latn` → `sr`); else English.
 */
export function resolveLanguage(candidates, available = LANGUAGES) {
  for (const tag of candidates) {
    const parts = String(tag).trim().replace(/_/g, '-').toLowerCase().split('-');
    while (parts.length > 0) {
      const attempt = parts.join('-');
      if (available.includes(attempt)) return attempt;
      parts.pop();
    }
  }
  return DEFAULT_LANGUAGE;
}

/** `rtl` for right-to-left scripts, else `ltr`. */
export function textDirection(lang) {
  return RTL_LANGUAGES.has(String(lang).toLowerCase().split('-')[0]) ? 'rtl' : 'ltr';
}

export class Translator {
  /**
   * @param {string} lang the catalog's language
   * @param {Record<string, string | Record<string, string>>} messages
   * @param {Record<string, string | Record<string, string>>} [fallback]
   */
  constructor(lang, messages, fallback = en) {
    this.lang = lang;
    this.dir = textDirection(lang);
    this.messages = messages;
    this.fallback = fallback;
    this.plurals = new Intl.PluralRules(lang);
    this.numbers = new Intl.NumberFormat(lang);
    this.times = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
    this.dates = new Intl.DateTimeFormat(lang, { dateStyle: 'full', timeStyle: 'short' });
  }

  /** Whether the catalog (or its fallback) has a key. */
  has(key) {
    return Object.hasOwn(this.messages, key) || Object.hasOwn(this.fallback, key);
  }

  /**
   * The string for `key`, placeholders filled from `params`; plural forms chosen by
   * `params.count`. An unknown key comes back as itself.
   */
  t(key, params = {}) {
    let value = this.messages[key] ?? this.fallback[key] ?? key;
    if (typeof value === 'object') {
      const count = Number(params.count ?? 0);
      value = value[this.plurals.select(count)] ?? value.other ?? key;
    }
    return value.replace(/\{(\w+)\}/g, (whole, name) => {
      if (!Object.hasOwn(params, name)) return whole;
      const param = params[name];
      return typeof param === 'number' ? this.numbers.format(param) : String(param);
    });
  }

  /** A message time, e.g. 14:05. */
  time(ms) {
    return this.times.format(new Date(ms));
  }

  /** A full date and time, e.g. for a tooltip. */
  dateTime(ms) {
    return this.dates.format(new Date(ms));
  }
}

const catalogs = new Map([[DEFAULT_LANGUAGE, Promise.resolve(en)]]);

/**
 * Fetch a catalog from `./i18n/<lang>.json` next to this script (cross-origin safe).
 * @param {string} lang one of LANGUAGES
 * @param {URL | string} [base] where the i18n/ folder lives
 */
export function loadCatalog(lang, base = import.meta.url) {
  const url = new URL(`./i18n/${lang}.json`, base).href;
  if (lang === DEFAULT_LANGUAGE) return catalogs.get(lang);
  if (!catalogs.has(url)) {
    const pending = fetch(url, { credentials: 'omit' }).then((response) => {
      if (!response.ok) throw new Error(`catalog ${lang}: HTTP ${response.status}`);
      return response.json();
    });
    pending.catch(() => catalogs.delete(url));
    catalogs.set(url, pending);
  }
  return catalogs.get(url);
}

/**
 * A Translator for the best language among the candidates; English when the catalog cannot be
 * loaded, so the text and its `lang` always agree.
 */
export async function loadTranslator(candidates, { available = LANGUAGES, base } = {}) {
  const lang = resolveLanguage(candidates, available);
  try {
    return new Translator(lang, await loadCatalog(lang, base));
  } catch (error) {
    console.warn('twinspace-live: falling back to English:', error);
    return new Translator(DEFAULT_LANGUAGE, en);
  }
}
