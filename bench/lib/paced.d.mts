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
}
export function pacedLoad(opts: { host?: string; port: number; rate: number; seconds: number; connections?: number; next: () => PacedRequest }): Promise<PacedResult>;
