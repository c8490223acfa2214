import { describe, expect, it } from 'vitest';
import { CappedOutput, decodeOutput } from '../../src/sandbox/output.js';

describe('CappedOutput', () => {
  it('keeps at most the limit, counts the rest and flags truncation', () => {
    const out = new CappedOutput(10, 100, () => {});
    out.push(Buffer.from('0123456789abc'));
    out.push(Buffer.from('def'));
    expect(out.text().text).toBe('0123456789');
    expect(out.truncated).toBe(true);
    expect(out.totalBytes).toBe(16);
  });
  it('calls onFlood once the program writes past the flood threshold', () => {
    let floods = 0;
    const out = new CappedOutput(4, 8, () => floods++);
    out.push(Buffer.from('12345678'));
    expect(floods).toBe(0);
    out.push(Buffer.from('9'));
    expect(floods).toBeGreaterThan(0);
    expect(out.flooded).toBe(true);
  });
});

describe('decodeOutput', () => {
  it('replaces invalid UTF-8 and flags it', () => {
    const r = decodeOutput(Buffer.from([0x61, 0xff, 0x62]), false);
    expect(r.text).toBe('a\uFFFDb');
    expect(r.notUtf8).toBe(true);
  });
  it('keeps NUL bytes and valid multi-byte text', () => {
    const r = decodeOutput(Buffer.from('a\0b é 🙂', 'utf8'), false);
    expect(r.text).toBe('a\0b é 🙂');
    expect(r.notUtf8).toBe(false);
    expect(JSON.parse(JSON.stringify(r.text))).toBe(r.text);
  });
  it('drops a character cut in half by truncation instead of flagging it', () => {
    const full = Buffer.from('ab🙂', 'utf8');
    const r = decodeOutput(full.subarray(0, 4), true);
    expect(r.text).toBe('ab');
    expect(r.notUtf8).toBe(false);
  });
});
