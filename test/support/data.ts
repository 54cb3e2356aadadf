// The test-bed's data plane for suites: starts (or reuses) a site's Kubo node and S3 server through
// test/testbed/data.sh and hands back their addresses and clients. The site is named after the
// run's test-bed, so globalTeardown stops it with the rest.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { IpfsClient } from '../../operator/src/data/ipfs.js';
import { repoRoot } from './testbed.js';

const run = promisify(execFile);
const script = path.join(repoRoot, 'test/testbed/data.sh');

export interface DataSite {
  ipfsApi: string;
  ipfsGateway: string;
  s3Endpoint: string;
  s3AccessKey: string;
  s3SecretKey: string;
  s3Region: string;
}

/** Starts site `data-<name>` (default: this run's test-bed name). */
export async function startData(name = process.env.ATELIER_TEST_CLUSTER ?? 'jest'): Promise<DataSite> {
  const { stdout } = await run('bash', [script, 'up', name]);
  return JSON.parse(readFileSync(stdout.trim().split('\n').pop()!, 'utf8')) as DataSite;
}

export async function stopData(name: string): Promise<void> {
  await run('bash', [script, 'down', name]);
}

export function ipfsOf(site: DataSite): IpfsClient {
  return new IpfsClient({ api: site.ipfsApi });
}

export function s3Of(site: DataSite, creds?: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return new S3Client({
    endpoint: site.s3Endpoint,
    region: site.s3Region,
    forcePathStyle: true,
    credentials: creds ?? { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey },
  });
}

/** Creates a bucket with a random suffix and returns its name. */
export async function freshBucket(s3: S3Client, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}
