// Reads and validates the header of one safetensors file (never its data) and returns where each tensor lives.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { HipError } from '../errors';
import { isObject } from '../json-file';
import type { TensorRef, WeightDType } from '../native';

/** Largest header we accept (the reference safetensors implementation uses the same bound). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const SUPPORTED_DTYPES: Record<string, { dtype: WeightDType; bytes: number }> = {
  BF16: { dtype: 'bf16', bytes: 2 },
  F16: { dtype: 'f16', bytes: 2 },
  F32: { dtype: 'f32', bytes: 4 },
};

/** A tensor of a safetensors file with its byte range relative to the data section. */
interface HeaderEntry {
  name: string;
  ref: TensorRef;
  begin: number;
  end: number;
}

function corrupt(file: string, message: string): HipError {
  return new HipError(
    'E_SAFETENSORS',
    `${file}: ${message}. The file is truncated or corrupt; download it again.`,
  );
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/** Reads the u64 header length and the header JSON text. */
function readHeaderText(file: string): { text: string; headerLength: number; fileSize: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new HipError('E_SAFETENSORS', `cannot open ${file}: ${(error as Error).message}`);
  }
  try {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8)
      throw corrupt(file, `the file has ${fileSize} bytes, fewer than the 8-byte header length`);
    const headerLength = Number(readExactly(fd, 8, 0).readBigUInt64LE(0));
    if (headerLength > fileSize - 8 || headerLength > MAX_HEADER_BYTES) {
      throw corrupt(
        file,
        `the header length is ${headerLength} bytes but the file has only ${fileSize - 8} bytes after it` +
          ` (and at most ${MAX_HEADER_BYTES} are allowed)`,
      );
    }
    const text = readExactly(fd, headerLength, 8).toString('utf8');
    return { text, headerLength, fileSize };
  } finally {
    closeSync(fd);
  }
}

function parseHeaderJson(file: string, text: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(header))
    throw corrupt(file, 'the header must be a JSON object mapping tensor names to entries');
  return header;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Validates one tensor entry against the data section of `dataSize` bytes. */
function parseEntry(
  file: string,
  name: string,
  raw: unknown,
  dataStart: number,
  dataSize: number,
): HeaderEntry {
  const where = `tensor '${name}'`;
  if (!isObject(raw)) throw corrupt(file, `${where} must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw corrupt(file, `${where} has no string 'dtype'`);
  const known = SUPPORTED_DTYPES[dtype];
  if (!known) {
    throw new HipError(
      'E_UNSUPPORTED',
      `${file}: ${where} has dtype ${dtype}; supported dtypes are BF16, F16 and F32 (quantized or integer weights are not supported)`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw corrupt(
      file,
      `${where} has shape ${JSON.stringify(shape)}; expected a list of non-negative integers`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw corrupt(file, `${where} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw corrupt(file, `${where} has data_offsets [${begin}, ${end}] with begin > end`);
  if (end > dataSize) {
    throw corrupt(file, `${where} ends at byte ${end} of the data section, which has only ${dataSize} bytes`);
  }
  const expectedBytes = (shape as number[]).reduce((a, b) => a * b, 1) * known.bytes;
  if (expectedBytes !== end - begin) {
    throw corrupt(
      file,
      `${where} has shape [${shape.join(', ')}] and dtype ${dtype} (${expectedBytes} bytes) but data_offsets span ${end - begin} bytes`,
    );
  }
  const ref: TensorRef = { file, offset: dataStart + begin, dtype: known.dtype, shape: shape as number[] };
  return { name, ref, begin, end };
}

function checkNoOverlap(file: string, entries: HeaderEntry[]): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) {
      throw corrupt(
        file,
        `tensors '${prev.name}' [${prev.begin}, ${prev.end}) and '${cur.name}' [${cur.begin}, ${cur.end}) overlap`,
      );
    }
  }
}

/** Validates the header of a safetensors file and maps each tensor name to its absolute location. */
export function readSafetensorsHeader(path: string): Map<string, TensorRef> {
  const file = resolve(path);
  const { text, headerLength, fileSize } = readHeaderText(file);
  const header = parseHeaderJson(file, text);
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  const entries = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, raw]) => parseEntry(file, name, raw, dataStart, dataSize));
  checkNoOverlap(file, entries);
  return new Map(entries.map((entry) => [entry.name, entry.ref]));
}

/** Bytes per element of a weight dtype. */
export function dtypeBytes(dtype: WeightDType): number {
  return dtype === 'f32' ? 4 : 2;
}
