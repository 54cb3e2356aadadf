// What one controller reads of another, as interfaces, so that neither imports the other's module:
// the RenderJob reconciler reads the settlement controller's view (the signing domain once the chain
// was reached, payout addresses, whether deletion must wait for escrows).
import type { RenderJob } from '../api/index.js';
import type { ResultDomain } from '../settlement/results.js';

/** What the RenderJob reconciler reads of settlement. */
export interface SettlementView {
  /** The EIP-712 domain results are signed under, once the chain has been reached (token decimals known). */
  domain(): (ResultDomain & { tokenDecimals: number; escrowAddress: string }) | undefined;
  payoutAddress(provider: string): string | undefined;
  /** True while the job has an escrow that is not closed yet (or a step in flight): its finalizer stays. */
  blocksDeletion(key: string, job: RenderJob): boolean;
}
