import { InvalidRequestError, PayloadTooLargeError } from '../domain/errors.js';

/** 413 with `code` when `value` is more than `limitBytes` bytes of UTF-8. */
export function assertMaxBytes(
  value: string | undefined,
  limitBytes: number,
  code: 'source_too_large' | 'stdin_too_large' | 'expected_output_too_large',
): void {
  if (value === undefined) return;
  // A string of n UTF-16 code units is at most 3n bytes of UTF-8: most calls need no count.
  if (value.length * 3 <= limitBytes) return;
  if (Buffer.byteLength(value, 'utf8') > limitBytes) throw new PayloadTooLargeError(code, limitBytes);
}

/**
 * The revision named by an If-Match header: `"7"` (the ETag we send), `W/"7"` or `7`.
 * `*` (any current revision) imposes nothing. Anything else is a 400.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return undefined;
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(value);
  if (!m) throw new InvalidRequestError('If-Match must be a revision as returned in ETag, e.g. "7"', { header: 'if-match' });
  return Number(m[1]);
}

/** The ETag of a session revision. */
export const revisionETag = (revision: number): string => `"${revision}"`;
