// `make dev`, the data plane part (run by dev.sh once site A's operator runs with --ipfs-api, the
// studio identity and S3 Secrets): two inputs added to the site's IPFS node by CID, four shards whose
// outputs the real `atelier shard` wrapper seals to the studio's key and publishes (each KWOK pod
// reports its shard's result), a RenderJob with those inputs and encryptTo, then the decrypted
// objects listed from the S3 bucket with their sha256 next to the digests the shards reported.
// Usage: node test/testbed/dev-data.mjs KUBECONFIG DATA_JSON RECIPIENT
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const [kubeconfig, dataJson, recipient] = process.argv.slice(2);
const root = path.resolve(import.meta.dirname, '../..');
const site = JSON.parse(readFileSync(dataJson, 'utf8'));
const kubectl = (args, input) => execFileSync(path.join(process.env.HOME, '.cache/atelier/bin/current/kubectl'), ['--kubeconfig', kubeconfig, ...args], { input, encoding: 'utf8' });
const add = async (text) => {
  const form = new FormData();
  form.append('file', new Blob([text]), 'f');
  return (await (await fetch(`${site.ipfsApi}/api/v0/add?cid-version=1&raw-leaves=true`, { method: 'POST', body: form })).json()).Hash;
};

const scene = await add('dev scene: a glass atrium at dusk');
const lora = await add('dev lora weights');
console.log(`  inputs on IPFS: scene ${scene}, lora ${lora}`);
const reports = [];
for (let i = 0; i < 4; i++) {
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-dev-'));
  const script = 'mkdir -p "$ATELIER_OUTPUT_DIR" && printf "frame %s rendered from %s" "$ATELIER_SHARD_INDEX" "$(cat "$0/scene")" > "$ATELIER_OUTPUT_DIR/frame-$ATELIER_SHARD_INDEX.exr"';
  execFileSync('node', [path.join(root, 'dist/operator/src/cli.js'), 'shard', '--', 'sh', '-c', script, dir], {
    env: { ...process.env, ATELIER_INPUTS: JSON.stringify([{ name: 'scene', cid: scene, path: `${dir}/scene` }]), ATELIER_IPFS_API: site.ipfsApi, ATELIER_OUTPUT_DIR: `${dir}/out`, ATELIER_ENCRYPT_TO: recipient, ATELIER_TERMINATION_LOG: `${dir}/t`, ATELIER_SHARD_INDEX: String(i) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  reports.push(JSON.parse(readFileSync(`${dir}/t`, 'utf8')));
}
console.log(`  4 shards sealed and published by \`atelier shard\`: ${reports.map((r) => r.outputs[0].cid).join(' ')}`);
const s3 = new S3Client({ endpoint: site.s3Endpoint, region: site.s3Region, forcePathStyle: true, credentials: { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey } });
await s3.send(new CreateBucketCommand({ Bucket: 'studio-renders' })).catch(() => undefined);
const annotations = { 'testbed.atelier.dev/duration': '3s' };
reports.forEach((r, i) => { annotations[`testbed.atelier.dev/message-${i}`] = JSON.stringify(r); });
kubectl(['-n', 'studio', 'delete', 'renderjob', 'dev-data', '--ignore-not-found', '--wait=true']);
kubectl(['apply', '-f', '-'], JSON.stringify({
  apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'dev-data', namespace: 'studio' },
  spec: {
    template: { image: 'ghcr.io/acme/sdxl-batch:1.4', command: ['python', 'render.py'], resources: { limits: { 'nvidia.com/gpu': 1 } }, metadata: { annotations } },
    inputs: [{ name: 'scene', cid: `ipfs://${scene}`, path: '/work/scene.blend', env: 'SCENE' }, { name: 'lora', cid: lora }],
    shards: { count: 4 },
    output: { uri: 's3://studio-renders/dev-data/', encryptTo: { recipient } },
  },
}));
const deadline = Date.now() + 180_000;
for (;;) {
  const cond = kubectl(['-n', 'studio', 'get', 'rj', 'dev-data', '-o', 'jsonpath={.status.conditions[?(@.type=="Delivered")].status}']);
  if (cond === 'True') break;
  if (Date.now() > deadline) throw new Error('dev-data was not delivered within 3 minutes');
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(execFileSync('node', [path.join(root, 'dist/operator/src/cli.js'), 'status', 'rj/dev-data', '-n', 'studio'], { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8' }));
console.log('  s3://studio-renders/ (decrypted by the operator; sha256 = the digest the shard reported):');
const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'studio-renders' }));
for (const o of listed.Contents ?? []) {
  const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'studio-renders', Key: o.Key }))).Body.transformToByteArray());
  const sha = createHash('sha256').update(body).digest('hex');
  const reported = reports.flatMap((r) => r.outputs).find((x) => `dev-data/${x.uri}` === o.Key)?.sha256;
  console.log(`    ${o.Key.padEnd(28)} ${String(body.length).padStart(5)} B  sha256 ${sha.slice(0, 16)}…  ${sha === reported ? 'matches the report' : 'DOES NOT MATCH'}  "${body.toString().slice(0, 48)}"`);
}
