import { InvalidTextError, PayloadTooLargeError } from './errors.js';

// Source code, stdin and expected outputs reach the program as UTF-8. A JSON string may carry a
// lone UTF-16 surrogate ("\ud800"), which UTF-8 cannot encode: it would silently become U+FFFD,
// so the program would receive other text than the session shows. Such text is refused instead.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws invalid_text (400) when `value` holds a lone surrogate. */
export function assertFaithfulText(value: string | null | undefined, field: string): void {
  if (!value) return;
  const m = LONE_SURROGATE.exec(value);
  if (m) throw new InvalidTextError(field, m.index);
}

/** 413 with `code` when `value` is more than `limitBytes` bytes of UTF-8. */
export function assertMaxBytes(
  value: string | null | undefined,
  limitBytes: number,
  code: 'source_too_large' | 'stdin_too_large' | 'expected_output_too_large',
): void {
  if (value === undefined || value === null) return;
  // A string of n UTF-16 code units is at most 3n bytes of UTF-8: most calls need no count.
  if (value.length * 3 <= limitBytes) return;
  if (Buffer.byteLength(value, 'utf8') > limitBytes) throw new PayloadTooLargeError(code, limitBytes);
}
