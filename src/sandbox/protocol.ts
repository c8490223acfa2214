// The fork server's wire format, as the worker sees it. Documented once, for both sides, in
// native/PROTOCOL.md; the launcher's side is native/protocol.c, server.c and files.c.

/** Every frame, both ways: u8 type, u32 length (little endian), payload. */
export const FRAME_HEADER_BYTES = 5;
/** Largest request frame the server accepts (SRV_MAX_MESSAGE in native/launcher.h). */
export const MAX_REQUEST_BYTES = 96 * 1024 * 1024;
/** Largest frame the worker accepts from the server; the server sends at most 64 KiB of data per frame. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Worker -> server. */
export const REQUEST = { run: 'R', kill: 'K' } as const;

/** Server -> worker: data frames are named by the descriptor of init they came from. */
export const FRAME = { stdout: '1', stderr: '2', status: '4', compileOutput: '5', export: '7', exit: 'X' } as const;

/** Descriptors of init (and the launcher options that name them). */
export const FD = { stdin: 0, stdout: 1, stderr: 2, input: 3, status: 4, compileOutput: 5, export: 7 } as const;

/** Record types of the input (descriptor 3) and of the exported working directory (descriptor 7). */
export const RECORD = { file: 'F', executable: 'E', seccomp: 'S' } as const;
export type RecordType = (typeof RECORD)[keyof typeof RECORD];

/** Bounds on the files of one execution, in and out (MAX_FILES, MAX_PATH_BYTES, MAX_DEPTH in native/launcher.h). */
export const FILE_LIMITS = { files: 1024, pathBytes: 1024, componentBytes: 255, depth: 16 } as const;
/** Largest input (records) the launcher reads (MAX_INPUT_BYTES). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

export interface WireRecord {
  type: RecordType;
  name: string;
  data: Buffer;
}

/** One record: u8 type, u32 name length, name, u32 data length, data. */
export function encodeRecord(type: RecordType, name: string, data: Buffer): Buffer[] {
  const nameBuf = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(1 + 4 + nameBuf.length + 4);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(nameBuf.length, 1);
  nameBuf.copy(head, 5);
  head.writeUInt32LE(data.length, 5 + nameBuf.length);
  return [head, data];
}

/** Records back from bytes; throws on a truncated stream, an unknown type or a name that is not UTF-8. */
export function decodeRecords(buf: Buffer): WireRecord[] {
  const out: WireRecord[] = [];
  let at = 0;
  const need = (n: number) => {
    if (buf.length - at < n) throw new Error(`truncated record at byte ${at}`);
  };
  while (at < buf.length) {
    need(5);
    const type = String.fromCharCode(buf[at]!) as RecordType;
    if (type !== RECORD.file && type !== RECORD.executable && type !== RECORD.seccomp) throw new Error(`unknown record type ${JSON.stringify(type)}`);
    const nameLen = buf.readUInt32LE(at + 1);
    at += 5;
    need(nameLen + 4);
    const nameBytes = buf.subarray(at, at + nameLen);
    const name = nameBytes.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(nameBytes)) throw new Error('a file name is not UTF-8');
    at += nameLen;
    const dataLen = buf.readUInt32LE(at);
    at += 4;
    need(dataLen);
    out.push({ type, name, data: buf.subarray(at, at + dataLen) });
    at += dataLen;
  }
  return out;
}

/** A frame: u8 type, u32 length, payload. */
export function encodeFrame(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(payload.length, 1);
  return payload.length ? Buffer.concat([head, payload]) : head;
}

/** An 'R' payload: u32 argc, argc NUL-terminated words (the launcher's options), u32 + input, u32 + stdin. */
export function encodeRunRequest(launcherArgs: readonly string[], input: Buffer, stdin: Buffer): Buffer {
  const parts: Buffer[] = [u32(launcherArgs.length)];
  for (const a of launcherArgs) {
    if (a.includes('\0')) throw new Error('a launcher option cannot hold a NUL byte');
    parts.push(Buffer.from(`${a}\0`, 'utf8'));
  }
  parts.push(u32(input.length), input, u32(stdin.length), stdin);
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/**
 * A relative path in the working directory: components of 1..255 bytes separated by '/', none
 * '.' or '..', no NUL or other control character, at most 16 deep and 1024 bytes (the launcher
 * checks the same).
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || Buffer.byteLength(p, 'utf8') > FILE_LIMITS.pathBytes) return false;
  if (/[\u0000-\u001f\u007f]/.test(p)) return false;
  const parts = p.split('/');
  if (parts.length > FILE_LIMITS.depth) return false;
  return parts.every((c) => c.length > 0 && c !== '.' && c !== '..' && Buffer.byteLength(c, 'utf8') <= FILE_LIMITS.componentBytes);
}
