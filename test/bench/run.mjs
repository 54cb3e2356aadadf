#!/usr/bin/env node
// Launcher for the benchmark, which is TypeScript run by Node's own type stripping (Node 24): the
// .ts files import each other as `./x.js` (as tsc's NodeNext resolution wants, so `make typecheck`
// checks them), and this hook maps such an import to the .ts file beside it when there is one.
// Usage: node test/bench/run.mjs [script.ts [args...]]   (default run.ts; profile.ts summarises profiles)
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

registerHooks({
  resolve(specifier, context, next) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      const ts = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
      if (existsSync(fileURLToPath(ts))) return next(ts.href, context);
    }
    return next(specifier, context);
  },
});

const arg = process.argv[2]?.endsWith('.ts') ? process.argv.splice(2, 1)[0] : 'run.ts';
const script = existsSync(path.resolve(arg)) ? path.resolve(arg) : path.join(import.meta.dirname, arg);
await import(pathToFileURL(script).href);
