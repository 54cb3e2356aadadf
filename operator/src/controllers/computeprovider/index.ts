// The ComputeProvider controller's public surface: the reconciler (probe, breaker, status), the
// in-memory ProviderRegistry the RenderJob controller queries, and the pieces the manager wires in
// (status writer, Secret reader, default adapter factory).
export * from './breaker.js';
export * from './kube.js';
export * from './reconciler.js';
export * from './registry.js';
export * from './status.js';
