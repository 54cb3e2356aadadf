#!/usr/bin/env node
// The standalone shard entrypoint a studio copies into its own render image (with node_modules'
// age-encryption and multiformats): `node shard-main.js -- <command…>` does what `atelier shard`
// does, without the rest of the operator.
import { shardCommand, shardUsage } from './shard.js';

shardCommand(process.argv.slice(2), process.env, (s) => process.stdout.write(`${s}\n`)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`atelier shard: ${(e as Error).message}\n\n${shardUsage}`);
    process.exit(2);
  },
);
