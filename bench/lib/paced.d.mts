// Types of paced.mjs, for the tests that import it.
export interface PacedRequest {
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
}
export interface PacedResult {
  sent: number;
  answered: number;
  perSecond: number;
  latencies: number[];
  statuses: Record<string, number>;
  errors: number;
  /** Requests sent again after their connection closed before any byte of an answer. */
  resent: number;
}
export function pacedLoad(opts: { host?: string; port: number; rate: number; seconds: number; connections?: number; next: () => PacedRequest }): Promise<PacedResult>;
