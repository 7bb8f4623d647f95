// Check that static/src/protocol.js is the only browser module naming the protocol's events.
// Fails (exit 1) when
//   - a module other than protocol.js holds a string literal that is an event name of the
//     protocol (any `prefix:name` of the protocol's prefixes, or one of the tables' names
//     passed to a call such as on(), request() or emit()),
//   - a module other than protocol.js and connection.js emits on a socket or calls
//     `ask(` / `request(` / `emit(` directly,
//   - a name in protocol.js's Requests has no LiveClient method sending it,
//   - docs/protocol.md names an event (`prefix:name`) that protocol.js does not list.
import { readFile, readdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { LocalEvents, Requests, ServerEvents } from '../src/protocol.js';

// What to check: static/src/ and docs/protocol.md, or a folder and a file given as arguments.
const [srcArg, docsArg] = process.argv.slice(2);
const srcDir = srcArg ? pathToFileURL(`${srcArg.replace(/\/$/, '')}/`) : new URL('../src/', import.meta.url);
const docs = docsArg ? pathToFileURL(docsArg) : new URL('../../docs/protocol.md', import.meta.url);
const problems = [];

const names = new Set([...Object.values(Requests), ...Object.values(ServerEvents)]);
const local = new Set(Object.values(LocalEvents));
const prefixes = new Set([...names].filter((n) => n.includes(':')).map((n) => n.split(':')[0]));
const prefixed = new RegExp(`^(${[...prefixes].join('|')}):[a-z_*]+$`);
const literal = /(['"`])((?:(?!\1)[^\\\n]|\\.)*)\1/g;
const called = /\b(on|off|once|emit|emitWithAck|ask|request|addEventListener|removeEventListener|dispatch)\(\s*(['"`])([^'"`]*)\2/g;
const sending = /\.(emit|emitWithAck|ask|request)\(/g;

function lineOf(text, index) {
  return text.slice(0, index).split('\n').length;
}

function withoutComments(text) {
  // keep offsets: blank comments out instead of cutting them
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, (c, lead) => lead + ' '.repeat(c.length - lead.length));
}

for (const name of (await readdir(srcDir)).filter((n) => n.endsWith('.js')).sort()) {
  if (name === 'protocol.js') continue;
  const text = withoutComments(await readFile(new URL(name, srcDir), 'utf8'));
  for (const m of text.matchAll(literal)) {
    if (prefixed.test(m[2])) problems.push(`${name}:${lineOf(text, m.index)}: event name '${m[2]}' (use protocol.js)`);
  }
  for (const m of text.matchAll(called)) {
    if (names.has(m[3]) || local.has(m[3])) {
      problems.push(`${name}:${lineOf(text, m.index)}: ${m[1]}('${m[3]}') names an event (use protocol.js)`);
    }
  }
  if (name !== 'connection.js') {
    for (const m of text.matchAll(sending)) {
      problems.push(`${name}:${lineOf(text, m.index)}: .${m[1]}( sends a raw event (use a LiveClient method)`);
    }
  }
}

const protocol = await readFile(new URL('protocol.js', srcDir), 'utf8');
const body = protocol.slice(protocol.indexOf('export class LiveClient'));
for (const key of Object.keys(Requests)) {
  if (!body.includes(`Requests.${key}`)) problems.push(`protocol.js: no LiveClient method sends Requests.${key}`);
}

const documented = new Set([...(await readFile(docs, 'utf8')).matchAll(/`([a-z]+:[a-z_]+)`/g)].map((m) => m[1]));
for (const event of documented) {
  if (prefixes.has(event.split(':')[0]) && !names.has(event)) {
    problems.push(`docs/protocol.md names \`${event}\`, which protocol.js does not list`);
  }
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`check-protocol: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-protocol: ${names.size} event names, all in protocol.js: ok`);
