import { isUtf8 } from 'node:buffer';
import { InvalidEncodingError } from '../../domain/errors.js';

// Text that a compatible API lets a client send encoded: Judge0's `base64_encoded=true` (source,
// stdin, expected output) and Piston's `files[].encoding` (base64, hex, utf8). Decoding is strict:
// what is not base64 (or hex) is refused rather than read leniently into other bytes, and what
// does not decode to UTF-8 is refused too, since the program receives text (executions/submit.ts).

export type TextEncoding = 'utf8' | 'base64' | 'hex';

// Standard alphabet; line breaks and spaces (Ruby's and MIME's base64 wrap lines) are ignored.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

function bytesOf(value: string, encoding: TextEncoding, field: string): Buffer {
  if (encoding === 'utf8') return Buffer.from(value, 'utf8');
  if (encoding === 'hex') {
    if (!HEX.test(value)) throw new InvalidEncodingError(field, encoding, 'not hex: pairs of 0-9 a-f expected');
    return Buffer.from(value, 'hex');
  }
  const compact = value.replace(/[\r\n\t ]/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) throw new InvalidEncodingError(field, encoding, 'not base64');
  return Buffer.from(compact, 'base64');
}

/** The text `value` encodes; 400 invalid_encoding when it does not decode to UTF-8. */
export function decodeText(value: string, encoding: TextEncoding, field: string): string {
  if (encoding === 'utf8') return value;
  const bytes = bytesOf(value, encoding, field);
  if (!isUtf8(bytes)) throw new InvalidEncodingError(field, encoding, 'does not decode to UTF-8 text');
  return bytes.toString('utf8');
}

/** Base64 of the UTF-8 of `text`, on one line; null stays null. */
export function encodeBase64(text: string | null): string | null {
  return text === null ? null : Buffer.from(text, 'utf8').toString('base64');
}
