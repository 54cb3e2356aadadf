// The small interfaces every controller takes from its wiring, declared once: a read-only view of an
// informer cache, an Event recorder and a Secret reader. Controllers depend on these, never on each
// other's files, so no controller module imports another to borrow a type.
import type * as k8s from '@kubernetes/client-node';
import type { EventType } from './events.js';

/** A read-only view of an informer cache (one or several informers read as one). */
export interface Lister<T> {
  get(namespace: string, name: string): T | undefined;
  byIndex(index: string, value: string): T[];
}

/** Records a Kubernetes Event about an object (runtime/events.ts EventRecorder implements it). */
export interface Recorder {
  event(obj: { apiVersion?: string; kind?: string; metadata?: k8s.V1ObjectMeta }, type: EventType, reason: string, message: string): void;
}

/** Reads one key of a Secret; errors name the Secret, never its content. */
export type SecretReader = (namespace: string, name: string, key: string) => Promise<string>;
