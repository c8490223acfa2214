// Collects one output stream of an untrusted program: keeps at most `limitBytes`, counts the rest,
// and tells the caller when the program floods far past the limit (so it can be killed instead of
// being drained until its time runs out).
const EMPTY = Buffer.alloc(0);

export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  totalBytes = 0;

  constructor(
    private readonly limitBytes: number,
    private readonly floodBytes: number,
    private readonly onFlood: () => void,
  ) {}

  /** Counts `chunk` and keeps what fits; returns the part kept (empty once the limit is reached). */
  push(chunk: Buffer): Buffer {
    this.totalBytes += chunk.length;
    let part = EMPTY;
    if (this.kept < this.limitBytes) {
      const room = this.limitBytes - this.kept;
      part = Buffer.from(chunk.length > room ? chunk.subarray(0, room) : chunk);
      this.chunks.push(part);
      this.kept += part.length;
    }
    if (this.totalBytes > this.floodBytes) this.onFlood();
    return part;
  }

  /** The kept bytes as they came. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get truncated(): boolean {
    return this.totalBytes > this.limitBytes;
  }

  get flooded(): boolean {
    return this.totalBytes > this.floodBytes;
  }

  /** The kept bytes as text; invalid UTF-8 becomes U+FFFD and is flagged. NULs are kept (JSON escapes them). */
  text(): { text: string; notUtf8: boolean } {
    return decodeOutput(Buffer.concat(this.chunks), this.truncated);
  }
}

/** Length of `buf` without a UTF-8 sequence that truncation cut in half at its end. */
function completeLength(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}

/** Decode program output for JSON: invalid UTF-8 becomes U+FFFD and is flagged. */
export function decodeOutput(buf: Buffer, truncated: boolean): { text: string; notUtf8: boolean } {
  const body = truncated ? buf.subarray(0, completeLength(buf)) : buf;
  const text = body.toString('utf8');
  const notUtf8 = Buffer.byteLength(text, 'utf8') !== body.length || !Buffer.from(text, 'utf8').equals(body);
  return { text, notUtf8 };
}
