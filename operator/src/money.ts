// Atelier's one money module. Amounts travel as decimal strings ("2.50") in the API and are computed
// as integer micro-USD (bigint), never as floats. Provider prices arrive as decimal strings
// (`"1234.5678"`, Cosmos DecCoin amounts with 18 decimals) or JSON numbers (`2.71`): they are parsed
// into exact rationals over bigint, combined, and rounded once to micro-USD. Also here, once each:
// the cost of GPU time at a price, a price cap read from a spec (one rule for every reader), and
// USD micros to settlement-token units (one function for the signer and the settlement plan).

/** An exact rational number n/d with d > 0. */
export interface Rational {
  n: bigint;
  d: bigint;
}

export type MicroUsd = bigint;

const DECIMAL = /^([+-])?(\d+)?(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Parses a decimal string or finite number (including exponent forms like `1e-7`) exactly. */
export function rational(value: string | number | bigint | Rational): Rational {
  if (typeof value === 'object') return value;
  if (typeof value === 'bigint') return { n: value, d: 1n };
  if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const text = String(value).trim();
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === undefined && m[3] === undefined)) throw new RangeError(`not a decimal: ${JSON.stringify(text)}`);
  const sign = m[1] === '-' ? -1n : 1n;
  const whole = m[2] ?? '0';
  const frac = m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  let n = BigInt(whole + frac) * sign;
  let d = 10n ** BigInt(frac.length);
  if (exp > 0) n *= 10n ** BigInt(exp);
  if (exp < 0) d *= 10n ** BigInt(-exp);
  return normalise({ n, d });
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function normalise(r: Rational): Rational {
  if (r.d === 0n) throw new RangeError('division by zero');
  let { n, d } = r;
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d) || 1n;
  return { n: n / g, d: d / g };
}

type Num = string | number | bigint | Rational;

export function mul(...values: Num[]): Rational {
  return normalise(values.map(rational).reduce((a, b) => ({ n: a.n * b.n, d: a.d * b.d }), { n: 1n, d: 1n }));
}

export function div(a: Num, b: Num): Rational {
  const x = rational(a);
  const y = rational(b);
  if (y.n === 0n) throw new RangeError('division by zero');
  return normalise({ n: x.n * y.d, d: x.d * y.n });
}

export function add(a: Num, b: Num): Rational {
  const x = rational(a);
  const y = rational(b);
  return normalise({ n: x.n * y.d + y.n * x.d, d: x.d * y.d });
}

export function compare(a: Num, b: Num): -1 | 0 | 1 {
  const x = rational(a);
  const y = rational(b);
  const l = x.n * y.d;
  const r = y.n * x.d;
  return l < r ? -1 : l > r ? 1 : 0;
}

export type Rounding = 'halfUp' | 'floor' | 'ceil';

/** Rounds r to an integer number of 10^-scale units. */
export function toScaled(r: Num, scale: number, mode: Rounding = 'halfUp'): bigint {
  const x = rational(r);
  const num = x.n * 10n ** BigInt(scale);
  const q = num / x.d;
  const rem = num % x.d;
  if (rem === 0n) return q;
  const negative = num < 0n;
  if (mode === 'floor') return negative ? q - 1n : q;
  if (mode === 'ceil') return negative ? q : q + 1n;
  const twice = (rem < 0n ? -rem : rem) * 2n;
  if (twice >= x.d) return negative ? q - 1n : q + 1n;
  return q;
}

export function toMicros(r: Num, mode: Rounding = 'halfUp'): MicroUsd {
  return toScaled(r, 6, mode);
}

/** `1500000n` -> `"1.50"`; keeps at least `minFraction` decimals and drops trailing zeros beyond. */
export function formatScaled(value: bigint, scale: number, minFraction = 2): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  let frac = digits.slice(digits.length - scale);
  while (frac.length > minFraction && frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Micro-units as a decimal string with at least two fraction digits ("12.50", "0.000125"). */
export function formatMicros(value: MicroUsd, minFraction = 2): string {
  return formatScaled(value, 6, minFraction);
}

/** Exact decimal string of a rational, rounded to `scale` places (for raw amounts in denoms). */
export function formatDecimal(r: Num, scale = 6, mode: Rounding = 'halfUp', minFraction = 0): string {
  return formatScaled(toScaled(r, scale, mode), scale, minFraction);
}

/** USD decimal string rounded to micro-USD, e.g. `usd(mul('1000', '600', '0.000003'))` -> `"1.80"`. */
export function usd(r: Num): string {
  return formatMicros(toMicros(r));
}

/** A USD string (`"2.50"`) to micro-USD; more than six decimals round half-up. */
export function parseUsd(value: string | number): MicroUsd {
  return toMicros(rational(value));
}

const STRICT = /^(-)?([0-9]+)(?:\.([0-9]{1,6}))?$/;

/** Parses an API decimal string with at most 6 fraction digits into micro-units (exact; no rounding). */
export function parseMicros(s: string): MicroUsd {
  const m = STRICT.exec(s.trim());
  if (!m) throw new Error(`not a decimal amount with at most 6 fraction digits: ${JSON.stringify(s)}`);
  const micros = BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0'));
  return m[1] ? -micros : micros;
}

/**
 * `parseMicros` for a value read back from an API or a status, where the caller has a meaning for
 * "absent or unreadable": `fallback` (0 for a sum that must not fail, undefined for "no such value").
 */
export function parseMicrosOr<F extends MicroUsd | undefined>(s: string | undefined, fallback: F): MicroUsd | F {
  if (s === undefined || s === '') return fallback;
  try { return parseMicros(s); } catch { return fallback; }
}

/** Cost in micro-USD of `gpuMillis` GPU-milliseconds at `pricePerGpuHour` micro-USD, rounded half up. */
export function costOfGpuMillis(gpuMillis: bigint, pricePerGpuHourMicros: bigint): MicroUsd {
  const num = gpuMillis * pricePerGpuHourMicros;
  const den = 3_600_000n;
  return (num + den / 2n) / den;
}

/**
 * A price cap from a spec (`maxPricePerGpuHour`): undefined when unset; a value that does not parse
 * (the CRD admits only decimals, so only a bypassed schema gets here) is a cap of 0, never "no cap":
 * a typo must not open a provider to any price. Every reader of a cap goes through here.
 */
export function priceCapMicros(value: string | undefined): MicroUsd | undefined {
  if (value === undefined) return undefined;
  try {
    const v = parseMicros(value);
    return v < 0n ? 0n : v;
  } catch {
    return 0n;
  }
}

/** USD micros to settlement-token units (a USD stablecoin with `decimals`): floor for what is paid, ceil for what is funded. */
export function microsToUnits(micros: MicroUsd, decimals: number, round: 'floor' | 'ceil'): bigint {
  if (!Number.isInteger(decimals) || decimals < 0) throw new Error(`token decimals must be a non-negative integer, got ${decimals}`);
  if (decimals >= 6) return micros * 10n ** BigInt(decimals - 6);
  const div = 10n ** BigInt(6 - decimals);
  return round === 'floor' ? micros / div : (micros + div - 1n) / div;
}
