import { InvalidRequestError } from '../domain/errors.js';

export { assertMaxBytes } from '../domain/text.js';

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
