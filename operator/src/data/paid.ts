// Settlement's view of delivery: a job whose outputs are sealed (spec.output.encryptTo) pays a shard
// only once the delivery controller has delivered it (status.delivery.shards[].state Delivered); a
// rejected one is marked verification Failed on its RenderShard, which settlement already withholds.
interface SealedJobView {
  spec: { output?: { encryptTo?: unknown } };
  status?: { delivery?: { shards?: { index: number; state: string }[] } };
}

/** Predicate "this shard is not delivered yet" for a sealed job; undefined when delivery does not gate payment. */
export function undelivered(job: SealedJobView): ((index: number) => boolean) | undefined {
  if (!job.spec.output?.encryptTo) return undefined;
  const done = new Set((job.status?.delivery?.shards ?? []).filter((s) => s.state === 'Delivered').map((s) => s.index));
  return (index) => !done.has(index);
}
