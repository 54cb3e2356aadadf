// The data plane's operator settings (flags and environment, parsed with the rest in config.ts):
// where the IPFS RPC API is, which gateway shards fetch from, the bounds of the inputs gate, the
// image of the inputs' init container, the Secret holding the studio's age identity, and the S3
// endpoint with its credentials Secret. Secrets are named NS/NAME and must be in the operator's
// namespace. Unset --ipfs-api: the data plane is off and a job with inputs is refused.
export interface DataConfig {
  ipfsApi: string;
  /** The gateway URL shards fetch inputs from (default: the API's host on the gateway port is unknown, so the API itself). */
  ipfsGateway: string;
  inputTimeoutMs: number;
  maxInputBytes: number;
  /** Image of the inputs' init container (the operator image, which ships `atelier shard`). */
  shardImage: string;
  identitySecret?: { namespace: string; name: string; key: string };
  s3?: { endpoint: string; region: string; credentialsSecret: { namespace: string; name: string } };
  /** Test fault hook (ATELIER_TEST_KILL_AFTER_OBJECTS, never a flag): SIGKILL after this many objects written. */
  testKillAfterObjects?: number;
}

export const dataUsage = `Data plane (IPFS inputs/outputs, sealed delivery; README "Data path"):
  --ipfs-api URL                 Kubo RPC API the operator checks, pins and fetches through [ATELIER_IPFS_API]
  --ipfs-gateway URL             gateway shards fetch inputs from (default: --ipfs-api) [ATELIER_IPFS_GATEWAY]
  --input-timeout SECONDS        how long an input may take to resolve (default 30) [ATELIER_INPUT_TIMEOUT_SECONDS]
  --max-input-bytes N            largest input accepted (default 10737418240) [ATELIER_MAX_INPUT_BYTES]
  --shard-image IMAGE            image of the inputs' init container (default the operator's) [ATELIER_SHARD_IMAGE]
  --data-identity-secret NS/NAME Secret (key "identity") with the studio's age identity [ATELIER_DATA_IDENTITY_SECRET]
  --s3-endpoint URL              S3-compatible endpoint outputs are delivered to [ATELIER_S3_ENDPOINT]
  --s3-region REGION             (default us-east-1) [ATELIER_S3_REGION]
  --s3-credentials-secret NS/NAME Secret with accessKeyId and secretAccessKey [ATELIER_S3_CREDENTIALS_SECRET]
`;

export const dataFlags = {
  'ipfs-api': { type: 'string' }, 'ipfs-gateway': { type: 'string' }, 'input-timeout': { type: 'string' },
  'max-input-bytes': { type: 'string' }, 'shard-image': { type: 'string' }, 'data-identity-secret': { type: 'string' },
  's3-endpoint': { type: 'string' }, 's3-region': { type: 'string' }, 's3-credentials-secret': { type: 'string' },
} as const;

function nsName(flag: string, ref: string, secretsNamespace: string): { namespace: string; name: string } {
  const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-.a-z0-9]*)$/.exec(ref);
  if (!m) throw new Error(`--${flag} must be NAMESPACE/NAME, got ${JSON.stringify(ref)}`);
  if (m[1] !== secretsNamespace) throw new Error(`--${flag}: Secrets are read only from the operator's namespace ${secretsNamespace}`);
  return { namespace: m[1]!, name: m[2]! };
}

function url(flag: string, v: string): string {
  if (!/^https?:\/\/[^\s]+$/.test(v)) throw new Error(`--${flag} must be an http(s) URL, got ${JSON.stringify(v)}`);
  return v.replace(/\/+$/, '');
}

export function parseDataConfig(values: Record<string, unknown>, env: Record<string, string | undefined>, secretsNamespace: string): { data?: DataConfig } {
  const v = (flag: string, name: string) => (values[flag] as string | undefined) ?? env[name];
  const api = v('ipfs-api', 'ATELIER_IPFS_API');
  if (!api) return {};
  const timeout = Number(v('input-timeout', 'ATELIER_INPUT_TIMEOUT_SECONDS') ?? '30');
  const max = Number(v('max-input-bytes', 'ATELIER_MAX_INPUT_BYTES') ?? String(10 * 2 ** 30));
  if (!(timeout > 0)) throw new Error('--input-timeout must be a positive number of seconds');
  if (!Number.isInteger(max) || max <= 0) throw new Error('--max-input-bytes must be a positive integer');
  const idRef = v('data-identity-secret', 'ATELIER_DATA_IDENTITY_SECRET');
  const s3Endpoint = v('s3-endpoint', 'ATELIER_S3_ENDPOINT');
  const s3Creds = v('s3-credentials-secret', 'ATELIER_S3_CREDENTIALS_SECRET');
  if (!!s3Endpoint !== !!s3Creds) throw new Error('--s3-endpoint and --s3-credentials-secret go together');
  return {
    data: {
      ipfsApi: url('ipfs-api', api),
      ipfsGateway: url('ipfs-gateway', v('ipfs-gateway', 'ATELIER_IPFS_GATEWAY') ?? api),
      inputTimeoutMs: Math.round(timeout * 1000),
      maxInputBytes: max,
      shardImage: v('shard-image', 'ATELIER_SHARD_IMAGE') ?? 'ghcr.io/atelier-dev/atelier:0.1.0',
      ...(idRef ? { identitySecret: { ...nsName('data-identity-secret', idRef, secretsNamespace), key: 'identity' } } : {}),
      ...(env.ATELIER_TEST_KILL_AFTER_OBJECTS ? { testKillAfterObjects: Number(env.ATELIER_TEST_KILL_AFTER_OBJECTS) } : {}),
      ...(s3Endpoint && s3Creds ? { s3: { endpoint: url('s3-endpoint', s3Endpoint), region: v('s3-region', 'ATELIER_S3_REGION') ?? 'us-east-1', credentialsSecret: nsName('s3-credentials-secret', s3Creds, secretsNamespace) } } : {}),
    },
  };
}
