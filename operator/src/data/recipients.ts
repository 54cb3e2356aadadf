// The shape of age recipients (age1… X25519 public keys), kept apart from seal.ts so the
// controllers can check a job's encryptTo without loading the crypto library.
/** Parses a recipients value: one or more age1… recipients separated by whitespace or commas. */
export function parseRecipients(value: string): string[] {
  const rs = value.split(/[\s,]+/).filter(Boolean);
  if (rs.length === 0 || rs.some((r) => !/^age1[02-9ac-hj-np-z]{58}$/.test(r))) {
    throw new Error('encryptTo must hold one or more age X25519 recipients (age1…)');
  }
  return rs;
}
