// Runs the Argo CD health check for RenderJobs (charts/atelier/argocd/renderjob-health.lua) in a Lua
// VM (fengari) the way Argo CD does: the live object as the global `obj`, only the libraries Argo CD
// opens (base, table, string, math, coroutine), a table {status, message} returned. Table-driven
// over sample RenderJobs built from one builder: every phase, failure conditions, a rejected spec,
// suspension, a stale observedGeneration and a job the operator has not seen yet.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fengari from 'fengari';
import type { RenderJob, RenderJobStatus } from '../operator/src/api/index.js';

const { lua, lauxlib, lualib, to_luastring } = fengari;
const script = readFileSync(path.join(import.meta.dirname, '../charts/atelier/argocd/renderjob-health.lua'), 'utf8');

type LuaState = ReturnType<typeof lauxlib.luaL_newstate>;

/** Pushes a JSON value the way Argo CD hands objects to Lua: objects and arrays become tables, arrays 1-based. */
function push(L: LuaState, v: unknown): void {
  if (v === null || v === undefined) lua.lua_pushnil(L);
  else if (typeof v === 'boolean') lua.lua_pushboolean(L, v);
  else if (typeof v === 'number') lua.lua_pushnumber(L, v);
  else if (typeof v === 'string') lua.lua_pushstring(L, to_luastring(v));
  else if (Array.isArray(v)) {
    lua.lua_createtable(L, v.length, 0);
    v.forEach((item, i) => { push(L, item); lua.lua_rawseti(L, -2, i + 1); });
  } else {
    lua.lua_createtable(L, 0, 0);
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      if (item === undefined) continue;
      push(L, item);
      lua.lua_setfield(L, -2, to_luastring(k));
    }
  }
}

function field(L: LuaState, name: string): string | undefined {
  const t = lua.lua_getfield(L, -1, to_luastring(name));
  const s = t === lua.LUA_TNIL ? undefined : lua.lua_tojsstring(L, -1);
  lua.lua_pop(L, 1);
  return s;
}

function health(obj: unknown): { status?: string; message?: string } {
  const L = lauxlib.luaL_newstate();
  const libs: [string, (L: LuaState) => number][] = [
    ['_G', lualib.luaopen_base], ['table', lualib.luaopen_table], ['string', lualib.luaopen_string],
    ['math', lualib.luaopen_math], ['coroutine', lualib.luaopen_coroutine],
  ];
  for (const [name, open] of libs) { lauxlib.luaL_requiref(L, to_luastring(name), open, 1); lua.lua_pop(L, 1); }
  push(L, obj);
  lua.lua_setglobal(L, to_luastring('obj'));
  if (lauxlib.luaL_loadstring(L, to_luastring(script)) !== lua.LUA_OK || lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) {
    throw new Error(`Lua error: ${lua.lua_tojsstring(L, -1)}`);
  }
  if (lua.lua_type(L, -1) !== lua.LUA_TTABLE) throw new Error('the health check did not return a table');
  return { status: field(L, 'status'), message: field(L, 'message') };
}

/** A RenderJob at generation 2 with the given status (undefined: the operator has not written one). */
function job(status?: RenderJobStatus, opts: { generation?: number; suspend?: boolean } = {}): RenderJob {
  return {
    apiVersion: 'atelier.dev/v1alpha1',
    kind: 'RenderJob',
    metadata: { name: 'lighting-sweep', namespace: 'studio', generation: opts.generation ?? 2 },
    spec: {
      template: { image: 'ghcr.io/acme/sdxl-batch:1.4', resources: { limits: { 'nvidia.com/gpu': 1 } } },
      shards: { count: 20 },
      ...(opts.suspend !== undefined ? { suspend: opts.suspend } : {}),
    },
    ...(status ? { status } : {}),
  };
}

const cond = (type: string, status: 'True' | 'False', reason: string, message: string) => ({ type, status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' });
const counts = (succeeded: number, running: number) => ({ total: 20, succeeded, running, pending: 20 - succeeded - running, failed: 0 });

const cases: [string, RenderJob, string, RegExp][] = [
  ['no status: the operator has not seen it', job(), 'Progressing', /^waiting for the operator$/],
  ['status without a phase', job({ observedGeneration: 2 }), 'Progressing', /^waiting for the operator$/],
  ['pending, waiting for GPUs', job({ phase: 'Pending', observedGeneration: 2, shards: counts(0, 0), conditions: [cond('Scheduled', 'False', 'Unschedulable', '4 shard pod(s) wait for free nvidia.com/gpu on matching nodes')] }), 'Progressing', /^pending: 4 shard pod\(s\) wait/],
  ['pending, nothing special', job({ phase: 'Pending', observedGeneration: 2, progress: '0/20' }), 'Progressing', /^pending: 0\/20 shards succeeded$/],
  ['running', job({ phase: 'Running', observedGeneration: 2, progress: '12/20', shards: counts(12, 8) }), 'Progressing', /^Running: 12\/20 shards succeeded$/],
  ['running, progress from the counts', job({ phase: 'Running', observedGeneration: 2, shards: counts(3, 8) }), 'Progressing', /^Running: 3\/20 shards succeeded$/],
  ['succeeded', job({ phase: 'Succeeded', observedGeneration: 2, progress: '20/20', conditions: [cond('Complete', 'True', 'AllShardsSucceeded', '20/20 shards succeeded')] }), 'Healthy', /^20\/20 shards succeeded$/],
  ['succeeded, escrows still settling', job({ phase: 'Succeeded', observedGeneration: 2, conditions: [cond('Complete', 'True', 'AllShardsSucceeded', '20/20 shards succeeded'), cond('Settled', 'False', 'Settling', '1 escrow(s) being released or refunded')] }), 'Progressing', /^settling: 1 escrow\(s\) being released or refunded$/],
  ['succeeded and settled', job({ phase: 'Succeeded', observedGeneration: 2, conditions: [cond('Complete', 'True', 'AllShardsSucceeded', '20/20 shards succeeded'), cond('Settled', 'True', 'Settled', 'released 1.5 to 1 provider(s)')] }), 'Healthy', /^20\/20 shards succeeded$/],
  ['failed with a Failed condition', job({ phase: 'Failed', observedGeneration: 2, conditions: [cond('Failed', 'True', 'ShardRetriesExhausted', 'shard 7 failed 4 times: OOMKilled')] }), 'Degraded', /^shard 7 failed 4 times: OOMKilled$/],
  ['failed without a message', job({ phase: 'Failed', observedGeneration: 2 }), 'Degraded', /^the job failed$/],
  ['failed: spec rejected by the operator', job({ phase: 'Failed', observedGeneration: 2, conditions: [cond('Accepted', 'False', 'InvalidSpec', 'no ComputeProvider named akash'), cond('Failed', 'False', 'NoFailure', '')] }), 'Degraded', /^spec rejected: no ComputeProvider named akash$/],
  ['Failed condition while the phase lags', job({ phase: 'Running', observedGeneration: 2, conditions: [cond('Failed', 'True', 'VerificationMismatch', 'shard 3 result differs from its re-run')] }), 'Degraded', /re-run$/],
  ['suspended', job({ phase: 'Suspended', observedGeneration: 2, progress: '5/20' }, { suspend: true }), 'Suspended', /^suspended: 5\/20 shards succeeded$/],
  ['suspend set, shards draining', job({ phase: 'Running', observedGeneration: 2, progress: '5/20' }, { suspend: true }), 'Suspended', /^suspended/],
  ['stale generation: status describes an older spec', job({ phase: 'Succeeded', observedGeneration: 1 }, { generation: 2 }), 'Progressing', /^waiting for the operator to observe generation 2$/],
  ['stale generation hides an old failure', job({ phase: 'Failed', observedGeneration: 2 }, { generation: 3 }), 'Progressing', /generation 3$/],
  ['no observedGeneration at all', job({ phase: 'Running' }), 'Progressing', /generation 2$/],
];

describe('Argo CD health check for RenderJob', () => {
  test.each(cases)('%s', (_name, obj, status, message) => {
    const hs = health(obj);
    expect(hs.status).toBe(status);
    expect(hs.message).toMatch(message);
  });

  test('only returns statuses Argo CD knows', () => {
    const known = new Set(['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown']);
    for (const [, obj] of cases) expect(known.has(health(obj).status!)).toBe(true);
  });

  test('uses no library Argo CD withholds (io, os, require, load)', () => {
    const code = script.replace(/--[^\n]*/g, '');
    expect(code).not.toMatch(/\b(io|os|debug|package)\.|\brequire\s*\(|\bload(string|file)?\s*\(|\bdofile\s*\(/);
  });
});
