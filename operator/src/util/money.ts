// Exact decimal money for Atelier: amounts travel as decimal strings ("2.50") in the API and are
// computed as integer micro-units (bigint), never as floats, so a cost or a payment is never off by
// a rounding error.

const SCALE = 6;
const UNIT = 10n ** BigInt(SCALE);
const DECIMAL = /^(-)?([0-9]+)(?:\.([0-9]{1,6}))?$/;

/** Parses a decimal string with at most 6 fraction digits into micro-units. */
export function parseMicros(s: string): bigint {
  const m = DECIMAL.exec(s.trim());
  if (!m) throw new Error(`not a decimal amount with at most ${SCALE} fraction digits: ${JSON.stringify(s)}`);
  const micros = BigInt(m[2]!) * UNIT + BigInt((m[3] ?? '').padEnd(SCALE, '0'));
  return m[1] ? -micros : micros;
}

/** Formats micro-units as a decimal string with at least two fraction digits ("12.50", "0.000125"). */
export function formatMicros(micros: bigint): string {
  const neg = micros < 0n;
  const abs = neg ? -micros : micros;
  const whole = abs / UNIT;
  let frac = (abs % UNIT).toString().padStart(SCALE, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

/** Cost in micro-USD of `gpuMillis` GPU-milliseconds at `pricePerGpuHour` micro-USD, rounded half up. */
export function costOfGpuMillis(gpuMillis: bigint, pricePerGpuHourMicros: bigint): bigint {
  const num = gpuMillis * pricePerGpuHourMicros;
  const den = 3_600_000n;
  return (num + den / 2n) / den;
}
