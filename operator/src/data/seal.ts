// Sealing of shard outputs to the studio's key with age (X25519), through `age-encryption`, the
// TypeScript implementation by age's author: no crypto is written here. A shard seals each output
// to the recipient(s) in spec.output.encryptTo before it leaves the node, so a provider and IPFS
// only ever hold ciphertext; the operator opens it with the identity kept in a Secret.
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';

export { parseRecipients } from './recipients.js';

export interface KeyPair {
  /** AGE-SECRET-KEY-1… : the private identity, kept in a Secret in the operator's namespace. */
  identity: string;
  /** age1… : the public recipient a job's spec.output.encryptTo names. */
  recipient: string;
}

export async function generateKeyPair(): Promise<KeyPair> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

export async function seal(plaintext: Uint8Array, recipients: string[]): Promise<Uint8Array> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(plaintext);
}

/** Opens a sealed output; throws when the identity is not one of its recipients or the bytes were altered. */
export async function unseal(ciphertext: Uint8Array, identity: string): Promise<Uint8Array> {
  const d = new Decrypter();
  d.addIdentity(identity);
  return d.decrypt(ciphertext);
}
