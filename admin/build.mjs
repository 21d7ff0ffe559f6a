// admin/build.mjs OUT_DIR C_FILE — builds shorty's /admin and embeds it.
//
//   1. Tailwind v4 CLI: src/styles.css -> OUT_DIR/tmp/tailwind.css
//   2. esbuild: src/main.jsx -> minified ESM: main (the key form), the
//      admin (src/admin.jsx, loaded after login) and their shared chunk; one stylesheet
//      (Tailwind's output + Font Awesome's + Leaflet's CSS, Leaflet's images
//      as files), every file named <name>-<contenthash>.<ext> under
//      OUT_DIR/assets (served at /admin/assets/ as immutable)
//   3. OUT_DIR/index.html from index.html with the hashed names put in
//   4. a gzip copy of every file (level 9; kept when smaller)
//   5. C_FILE: every file as a C string with its content type, in the table
//      admin_assets[] (src/http/admin_assets.h) that src/http/admin.c serves
//
// Same lock file, same sources -> the same bytes (no timestamps: gzip's
// header mtime is 0). CMake runs this when an input changes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const [OUT, CFILE] = process.argv.slice(2);
if (!OUT || !CFILE) {
  console.error('usage: node admin/build.mjs OUT_DIR C_FILE');
  process.exit(2);
}
const NM = path.join(HERE, 'node_modules');
if (!fs.existsSync(path.join(NM, '@shlinkio', 'shlink-web-component'))) {
  console.error('admin/build.mjs: admin/node_modules is missing; run scripts/install-deps (npm ci in admin/)');
  process.exit(1);
}
const TMP = path.join(OUT, 'tmp');
const ASSETS = path.join(OUT, 'assets');
fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(TMP, { recursive: true });

// 1. Tailwind (run from admin/ so that its automatic source detection
//    scans src/ and skips node_modules)
const tw = spawnSync(
  process.execPath,
  [path.join(NM, '@tailwindcss', 'cli', 'dist', 'index.mjs'), '-i', 'src/styles.css', '-o',
    path.join(TMP, 'tailwind.css'), '--minify'],
  { cwd: HERE, encoding: 'utf8' },
);
if (tw.status !== 0) {
  console.error(tw.stdout + tw.stderr);
  process.exit(1);
}

// 2. esbuild: the stylesheet entry puts the three CSS sources in one file
const cssEntry = path.join(TMP, 'admin.css');
fs.writeFileSync(
  cssEntry,
  [
    path.join(NM, '@fortawesome', 'fontawesome-svg-core', 'styles.css'),
    path.join(NM, 'leaflet', 'dist', 'leaflet.css'),
    path.join(TMP, 'tailwind.css'),
  ].map((f) => `@import ${JSON.stringify(f)};\n`).join(''),
);
// The component's visit map without tiles from the network: its
// `react-leaflet` is src/leaflet-offline.jsx (whose own import of
// react-leaflet is the package).
const SHIM = path.join(HERE, 'src', 'leaflet-offline.jsx');
const offlineMap = {
  name: 'leaflet-offline',
  setup(b) {
    b.onResolve({ filter: /^react-leaflet$/ }, (args) =>
      args.importer.includes(`${path.sep}@shlinkio${path.sep}shlink-web-component${path.sep}`)
        ? { path: SHIM }
        : undefined);
  },
};
const result = await esbuild.build({
  absWorkingDir: HERE,
  plugins: [offlineMap],
  entryPoints: { main: 'src/main.jsx', styles: cssEntry },
  splitting: true, // admin.jsx (import()) and the code it shares with main.jsx: chunks of their own
  chunkNames: 'chunk-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.png': 'file', '.svg': 'file', '.woff2': 'file', '.woff': 'file', '.ttf': 'file' },
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  publicPath: '/admin/assets',
  outdir: ASSETS,
  metafile: true,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});
if (result.errors.length) process.exit(1);

// 3. index.html with the hashed names
const outs = Object.keys(result.metafile.outputs).map((f) => path.resolve(HERE, f));
const js = outs.find((f) => /\/main-[^/]+\.js$/.test(f));
const css = outs.find((f) => /\/styles-[^/]+\.css$/.test(f));
if (!js || !css) {
  console.error('admin/build.mjs: esbuild made no main-*.js or styles-*.css');
  process.exit(1);
}
// every other script: fetched and compiled while the key form shows
const preload = outs
  .filter((f) => f.endsWith('.js') && f !== js)
  .sort()
  .map((f) => `<link rel="modulepreload" href="/admin/assets/${path.basename(f)}">`)
  .join('\n');
const html = fs
  .readFileSync(path.join(HERE, 'index.html'), 'utf8')
  .replace('%JS%', `/admin/assets/${path.basename(js)}`)
  .replace('%CSS%', `/admin/assets/${path.basename(css)}`)
  .replace('%PRELOAD%', preload);
fs.writeFileSync(path.join(OUT, 'index.html'), html);

// 4 and 5. gzip copies and the C table
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
};
const files = [
  { url: '/admin/', file: path.join(OUT, 'index.html'), immutable: false },
  ...fs.readdirSync(ASSETS).sort().map((n) => ({
    url: `/admin/assets/${n}`,
    file: path.join(ASSETS, n),
    immutable: true,
  })),
];

// A C string literal of any bytes: printable ASCII as is, the rest as
// three-digit octal escapes (an octal escape never swallows the next
// character, unlike \x), '?' escaped against trigraphs; one line per 32 KiB
// of output so the file stays editable by tools.
function cString(buf) {
  const parts = [];
  let line = '';
  for (const b of buf) {
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x3f) line += String.fromCharCode(b);
    else line += '\\' + b.toString(8).padStart(3, '0');
    if (line.length >= 32768) {
      parts.push(`"${line}"`);
      line = '';
    }
  }
  parts.push(`"${line}"`);
  return parts.join('\n');
}

let c = '/* generated by admin/build.mjs from admin/ -- do not edit */\n#include "http/admin_assets.h"\n\n';
const rows = [];
const sizes = [];
files.forEach((f, i) => {
  const ext = path.extname(f.file);
  const type = TYPES[ext];
  if (!type) {
    console.error(`admin/build.mjs: no content type for ${f.file}`);
    process.exit(1);
  }
  const raw = fs.readFileSync(f.file);
  let gz = zlib.gzipSync(raw, { level: 9 });
  if (gz.length >= raw.length) gz = null;
  else fs.writeFileSync(f.file + '.gz', gz);
  c += `static const char raw_${i}[] =\n${cString(raw)};\n`;
  if (gz) c += `static const char gz_${i}[] =\n${cString(gz)};\n`;
  rows.push(
    `  {${JSON.stringify(f.url)}, ${JSON.stringify(type)}, raw_${i}, ${raw.length}, ` +
      `${gz ? `gz_${i}` : 'NULL'}, ${gz ? gz.length : 0}, ${f.immutable}},`,
  );
  sizes.push({ url: f.url, bytes: raw.length, gzip: gz ? gz.length : raw.length });
});
c += `\nconst struct admin_asset admin_assets[] = {\n${rows.join('\n')}\n  {NULL, NULL, NULL, 0, NULL, 0, false},\n};\n`;
fs.writeFileSync(path.join(OUT, 'sizes.json'), JSON.stringify(sizes, null, 1) + '\n');
fs.rmSync(TMP, { recursive: true, force: true });
// written last and only when changed, so an unchanged bundle recompiles nothing
if (!fs.existsSync(CFILE) || fs.readFileSync(CFILE, 'utf8') !== c) fs.writeFileSync(CFILE, c);
