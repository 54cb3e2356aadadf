// How the runtime names objects: "namespace/name" for namespaced objects and "name" for
// cluster-scoped ones, the same string in the informer store, the work queue and expectations.

export interface ObjectWithMeta {
  metadata?: {
    name?: string;
    namespace?: string;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean; apiVersion?: string; uid?: string }[];
  };
}

/** The informer/queue key of an object: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: ObjectWithMeta): string {
  const name = obj.metadata?.name ?? '';
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
