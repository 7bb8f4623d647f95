// Bundle the browser code into static/dist/ (served as /static/<name>) and copy the catalogs.
//   node static/tools/build.mjs            one build
//   node static/tools/build.mjs --watch    rebuild on change
import { cp, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const staticDir = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${staticDir}dist`;
const watch = process.argv.includes('--watch');

/**
 * Entry points: static/src/<name> → static/dist/<name>, served as /static/<name>. protocol.js and
 * i18n.js are entries too, so other pages and tests can import LiveClient and the catalogs.
 * Shared code goes to chunk-<hash>.js next to them (import.meta.url stays in static/dist/).
 */
const entryPoints = ['twinspace-chat.js', 'embed-chat.js', 'embed-chat.css', 'protocol.js', 'i18n.js',
  'console.js', 'console.css', 'room.js', 'room.css']
  .map((name) => `${staticDir}src/${name}`);

const options = {
  entryPoints,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  chunkNames: 'chunk-[hash]',
  logLevel: 'info',
};

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await cp(`${staticDir}i18n`, `${outdir}/i18n`, {
  recursive: true, filter: (src) => !src.includes('/i18n/') || src.endsWith('.json'),
});

if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
