// Test helper: writes small (possibly deliberately broken) safetensors files into a temporary folder.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RawTensor {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hipcode-test-'));
}

/** Writes u64 LE header length + header text + `dataBytes` zero bytes; `declaredLength` overrides the length field. */
export function writeRaw(path: string, headerText: string, dataBytes: number, declaredLength?: number): void {
  const header = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(declaredLength ?? header.length));
  writeFileSync(path, Buffer.concat([prefix, header, Buffer.alloc(dataBytes)]));
}

/** Writes a safetensors file whose data section is exactly as large as the furthest tensor end. */
export function writeSafetensors(path: string, tensors: Record<string, RawTensor>, extraData = 0): void {
  const end = Math.max(0, ...Object.values(tensors).map((t) => t.data_offsets[1]));
  writeRaw(path, JSON.stringify({ __metadata__: { format: 'pt' }, ...tensors }), end + extraData);
}

/** Lays out tensors back to back: name → [dtype, shape]. */
export function packed(specs: Record<string, [string, number[]]>): Record<string, RawTensor> {
  const sizes: Record<string, number> = { BF16: 2, F16: 2, F32: 4 };
  let offset = 0;
  const result: Record<string, RawTensor> = {};
  for (const [name, [dtype, shape]] of Object.entries(specs)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (sizes[dtype] ?? 1);
    result[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return result;
}
