// Starts one provider contract fake standalone, for `make dev` and manual poking:
//   node test/fakes/run.ts akash|render|chutes|nosana|vastai [--port 0] [--host 127.0.0.1] [--job-duration-ms N]
//     [--every-job wrong|fail|corrupt|…]
// Prints the base URL as the first stdout line and the credentials the fake accepts as a JSON
// second line (test values, never real ones) with `payoutAddress`, the address its results are
// signed by (its ComputeProvider's spec.payoutAddress), then serves on the real clock until
// SIGINT/SIGTERM. `--every-job ACTION` applies a per-job action to every job (as POST
// /_fake/every-job/ACTION does at runtime), e.g. `wrong` for a provider whose renders are all wrong.
// Node runs this file directly (type stripping); the resolve hook maps the `.js` specifiers the
// TypeScript sources use to their `.ts` files, so the fakes load without a build step.

import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      throw err;
    }
  },
});

interface Runnable {
  server: { start(port?: number, host?: string): Promise<string> };
  stop(): Promise<void>;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

async function main(): Promise<void> {
  const which = process.argv[2];
  const port = Number(arg('port', '0'));
  const durationArg = arg('job-duration-ms', '');
  const duration = durationArg === '' ? {} : { jobDurationMs: Number(durationArg) };
  const everyJob = arg('every-job', '');
  let fake: Runnable & { setEveryJob(action: string | undefined): boolean };
  let credentials: Record<string, string>;
  if (which === 'akash') {
    const { AkashFake } = await import('./akash.js');
    const f = new AkashFake(duration);
    fake = f;
    credentials = { apiKey: f.opts.apiKey, payoutAddress: f.payoutAddress };
  } else if (which === 'render') {
    const { RenderFake } = await import('./render.js');
    const f = new RenderFake(duration);
    fake = f;
    credentials = { publicKey: f.opts.publicKey, secretKey: f.opts.secretKey, payoutAddress: f.payoutAddress };
  } else if (which === 'chutes' || which === 'bittensor') {
    const { ChutesFake } = await import('./chutes.js');
    const f = new ChutesFake(duration);
    fake = f;
    credentials = { apiKey: f.opts.apiKey, chuteId: f.opts.chutes[0]?.chute_id ?? '', payoutAddress: f.payoutAddress };
  } else if (which === 'nosana') {
    const { NosanaFake, MARKET_H100, MARKET_4090 } = await import('./nosana.js');
    const f = new NosanaFake(duration);
    fake = f;
    credentials = { apiKey: f.opts.apiKey, 'market.nvidia-h100': MARKET_H100, 'market.nvidia-rtx-4090': MARKET_4090, payoutAddress: f.payoutAddress };
  } else if (which === 'vastai') {
    const { VastFake } = await import('./vastai.js');
    const f = new VastFake(duration);
    fake = f;
    credentials = { apiKey: f.opts.apiKey, payoutAddress: f.payoutAddress };
  } else {
    process.stderr.write('usage: node test/fakes/run.ts akash|render|chutes|nosana|vastai [--port 0] [--job-duration-ms N] [--every-job ACTION]\n');
    process.exit(2);
  }
  if (everyJob !== '' && !fake.setEveryJob(everyJob)) {
    process.stderr.write(`unknown --every-job action ${JSON.stringify(everyJob)} for ${which}\n`);
    process.exit(2);
  }
  const url = await fake.server.start(port, arg('host', '127.0.0.1'));
  process.stdout.write(`${url}\n${JSON.stringify(credentials)}\n`);
  const shutdown = (): void => {
    void fake.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

void main();
