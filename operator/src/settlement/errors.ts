// Classifies whatever ethers, the JSON-RPC endpoint or the escrow contract throws into the three cases
// a controller acts on differently: `reverted` (the chain refused: retrying the same call will not
// help; the decoded custom error name says why), `unreachable` (the RPC endpoint is down or timing out:
// back off and retry), and `other` (everything else, with a `code` such as ESCROW_CONFLICT or
// TX_PENDING when this module raised it). Nothing secret is put in messages: only addresses, ids,
// hashes and amounts.
import { Interface, type InterfaceAbi } from 'ethers';

export type SettlementErrorKind = 'reverted' | 'unreachable' | 'other';

export interface SettlementErrorInit {
  /** For `reverted`: the custom error's name (e.g. EscrowNotOpen), `Error` for a require string, `Panic`. */
  reason?: string;
  /** For `reverted`: the custom error's decoded arguments. */
  args?: readonly unknown[];
  /** Machine-readable detail, e.g. ESCROW_CONFLICT, TX_PENDING, TX_DROPPED, INVALID_AMOUNT. */
  code?: string;
  /** The transaction concerned, when one was sent. */
  txHash?: string;
  cause?: unknown;
}

export class SettlementError extends Error {
  readonly kind: SettlementErrorKind;
  readonly reason?: string;
  readonly args?: readonly unknown[];
  readonly code?: string;
  readonly txHash?: string;

  constructor(kind: SettlementErrorKind, message: string, init: SettlementErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'SettlementError';
    this.kind = kind;
    if (init.reason !== undefined) this.reason = init.reason;
    if (init.args !== undefined) this.args = init.args;
    if (init.code !== undefined) this.code = init.code;
    if (init.txHash !== undefined) this.txHash = init.txHash;
  }
}

// Socket-level codes (Node and undici) and ethers codes that mean "could not talk to the node".
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'NETWORK_ERROR', 'TIMEOUT', 'SERVER_ERROR',
]);

/** An Interface holding only the error fragments of the given ABIs, deduplicated by signature. */
export function errorInterface(...abis: InterfaceAbi[]): Interface {
  const seen = new Map<string, string>();
  for (const abi of abis) {
    for (const f of new Interface(abi).fragments) {
      if (f.type === 'error') seen.set(f.format('sighash'), f.format('full'));
    }
  }
  return new Interface([...seen.values()]);
}

// Errors nest (ethers wraps RPC errors in `error`, `info.error`, fetch failures in `cause`): visit all.
function* chain(err: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (depth > 6 || err === null || typeof err !== 'object') return;
  const e = err as Record<string, unknown>;
  yield e;
  yield* chain(e.cause, depth + 1);
  yield* chain(e.error, depth + 1);
  const info = e.info as Record<string, unknown> | undefined;
  if (info && typeof info === 'object') yield* chain(info.error, depth + 1);
}

function revertData(err: unknown): string | undefined {
  for (const e of chain(err)) {
    const d = e.data;
    if (typeof d === 'string' && /^0x[0-9a-fA-F]*$/.test(d) && d.length >= 10) return d;
  }
  return undefined;
}

function isRevert(err: unknown): boolean {
  for (const e of chain(err)) {
    if (e.code === 'CALL_EXCEPTION') return true;
    const msg = typeof e.message === 'string' ? e.message : '';
    if (/execution reverted|reverted/i.test(msg) && e.code !== 'NETWORK_ERROR') return true;
  }
  return false;
}

// ethers' full messages embed whole transactions (kilobytes of calldata); its shortMessage does not.
function shortMessage(err: unknown): string {
  const e = err as { shortMessage?: unknown; message?: unknown; code?: unknown } | null;
  if (e && typeof e.shortMessage === 'string') return typeof e.code === 'string' ? `${e.shortMessage} (${e.code})` : e.shortMessage;
  if (e && typeof e.message === 'string') return e.message.length > 300 ? `${e.message.slice(0, 300)}…` : e.message;
  return String(err);
}

/** Turns any thrown value into a SettlementError, decoding revert data with `errors` when given. */
export function classifyError(err: unknown, errors?: Interface, txHash?: string): SettlementError {
  if (err instanceof SettlementError) return err;
  const withHash = txHash === undefined ? {} : { txHash };
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) {
      return new SettlementError('unreachable', `chain RPC unreachable: ${String(e.code)}`, { ...withHash, code: e.code, cause: err });
    }
  }
  if (isRevert(err)) {
    const data = revertData(err);
    if (data && errors) {
      try {
        const parsed = errors.parseError(data);
        if (parsed) {
          return new SettlementError('reverted', `transaction reverted: ${parsed.name}(${parsed.args.map(String).join(', ')})`, {
            ...withHash, reason: parsed.name, args: [...parsed.args], cause: err,
          });
        }
      } catch {
        // Unknown selector: fall through to an undecoded revert.
      }
    }
    return new SettlementError('reverted', `transaction reverted${data ? ` with data ${data.slice(0, 10)}` : ''}`, { ...withHash, cause: err });
  }
  return new SettlementError('other', shortMessage(err), { ...withHash, cause: err });
}
