// Build app.js into a component with componentize-js's componentize()
// function (the `jco componentize` command fails here).
//
//   node componentize.mjs OUT.wasm [NODE_MODULES]
//
// NODE_MODULES is where @bytecodealliance/componentize-js is installed
// (default: ./node_modules). The world's dependencies are assembled in a
// temporary directory: warden's wit/plugin.wit and the WASI 0.2.12 packages
// that jco ships.
import { mkdtemp, mkdir, copyFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [out, modules = join(here, 'node_modules')] = process.argv.slice(2);
if (!out) {
  console.error('usage: node componentize.mjs OUT.wasm [NODE_MODULES]');
  process.exit(2);
}
const { componentize } = await import(
  pathToFileURL(join(modules, '@bytecodealliance/componentize-js/src/componentize.js'))
);
const builtin = join(modules, '@bytecodealliance/jco/lib/wit/builtin/0.2.12');
const wit = await mkdtemp(join(tmpdir(), 'jsnotes-wit-'));
try {
  await copyFile(join(here, 'wit/world.wit'), join(wit, 'world.wit'));
  const deps = {
    'warden-plugin': join(here, '../../wit/plugin.wit'),
    'wasi-filesystem': join(builtin, 'wasi-filesystem/package.wit'),
    'wasi-io': join(builtin, 'wasi-io/package.wit'),
    'wasi-clocks': join(builtin, 'wasi-clocks/package.wit'),
  };
  for (const [name, file] of Object.entries(deps)) {
    await mkdir(join(wit, 'deps', name), { recursive: true });
    await copyFile(file, join(wit, 'deps', name, 'package.wit'));
  }
  const { component } = await componentize({
    sourcePath: join(here, 'app.js'),
    witPath: wit,
    worldName: 'notes',
    // No fetch(), no console on stderr, no clocks or randomness beyond
    // what the plugin needs: fewer imports for a reviewer to read.
    disableFeatures: ['http', 'fetch-event'],
  });
  await writeFile(resolve(out), component);
} finally {
  await rm(wit, { recursive: true, force: true });
}
