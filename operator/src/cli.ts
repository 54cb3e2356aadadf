#!/usr/bin/env node
// The `atelier` command. `atelier run` starts the operator; later subcommands (plan, status,
// submit, mcp, escrow) live here too. Bad flags exit 2 with a message and the usage, never a stack trace.
import os from 'node:os';
import { escrowCommand, escrowUsage } from './commands/escrow.js';
import { mcpCommand, mcpUsage } from './commands/mcp.js';
import { planCommand, planUsage } from './commands/plan.js';
import { shardCommand, shardUsage } from './commands/shard.js';
import { statusCommand, statusUsage } from './commands/status.js';
import { submitCommand, submitUsage } from './commands/submit.js';
import { parseConfig, usage } from './config.js';
import { runOperator } from './manager.js';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run': {
      let cfg;
      try {
        cfg = parseConfig(rest, process.env, os.hostname());
      } catch (e) {
        process.stderr.write(`atelier run: ${(e as Error).message}\n\n${usage}`);
        return 2;
      }
      await runOperator(cfg);
      return -1; // keeps running until a signal
    }
    case 'mcp':
      try {
        return await mcpCommand(rest, process.env);
      } catch (e) {
        process.stderr.write(`atelier mcp: ${(e as Error).message}\n\n${mcpUsage}`);
        return 2;
      }
    case 'shard':
      try {
        return await shardCommand(rest, process.env, (s) => process.stdout.write(`${s}\n`));
      } catch (e) {
        process.stderr.write(`atelier shard: ${(e as Error).message}\n\n${shardUsage}`);
        return 2;
      }
    case 'plan':
    case 'status':
    case 'submit':
    case 'escrow': {
      const [run, help] = cmd === 'plan' ? [planCommand, planUsage] : cmd === 'status' ? [statusCommand, statusUsage] : cmd === 'submit' ? [submitCommand, submitUsage] : [escrowCommand, escrowUsage];
      try {
        return await run(rest, process.env, (s) => process.stdout.write(`${s}\n`));
      } catch (e) {
        process.stderr.write(`atelier ${cmd}: ${(e as Error).message}\n\n${help}`);
        return 2;
      }
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`atelier — GPU render jobs on Kubernetes, bursting to decentralized compute\n\nCommands:\n  run     start the operator\n  plan    print the plan for a RenderJob against the live cluster, submitting nothing\n  status  show a RenderJob's progress, cost, ETA and events (--watch)\n  submit  create a RenderJob (server-side apply) and, with --wait, follow it; exit 0 Succeeded, 1 Failed, 2 rejected, 3 timed out\n  mcp     serve the Model Context Protocol on stdio: agents plan, submit, follow, cancel RenderJobs\n  escrow  deploy the escrow contract (escrow deploy)\n  shard   the shard-side wrapper: fetch inputs by CID, run a command, seal and publish its outputs\n\n${usage}\n${planUsage}\n${statusUsage}\n${submitUsage}\n${mcpUsage}\n${escrowUsage}\n${shardUsage}`);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`atelier: unknown command ${JSON.stringify(cmd)}; try \`atelier help\`\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exit(code); },
  (e: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'error', message: 'operator failed to start', error: e instanceof Error ? e.message : String(e) })}\n`);
    process.exit(1);
  },
);
