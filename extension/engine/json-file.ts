// Reads JSON files and checks their fields, with errors that name the file, the field and what was expected.
import { readFileSync } from 'node:fs';
import { HipError, type HipErrorCode } from './errors';

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and parses a JSON file; a missing, unreadable or malformed file throws `code` naming the file. */
export function readJsonFile(path: string, code: HipErrorCode, hint: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new HipError(code, `cannot read ${path}: ${(error as Error).message}. ${hint}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HipError(code, `${path} is not valid JSON: ${(error as Error).message}. ${hint}`);
  }
}

/** Like readJsonFile, and the top level must be an object. */
export function readJsonObject(path: string, code: HipErrorCode, hint: string): JsonObject {
  const value = readJsonFile(path, code, hint);
  if (!isObject(value)) throw new HipError(code, `${path} must hold a JSON object at the top level. ${hint}`);
  return value;
}

/** Typed access to the fields of one JSON object; `where` names the file (and nesting) in every error. */
export class JsonFields {
  constructor(
    readonly object: JsonObject,
    readonly where: string,
    readonly code: HipErrorCode = 'E_CONFIG',
  ) {}

  has(field: string): boolean {
    return this.object[field] !== undefined && this.object[field] !== null;
  }

  fail(field: string, expected: string): never {
    const got = this.has(field) ? JSON.stringify(this.object[field]) : 'nothing';
    throw new HipError(this.code, `${this.where}: field '${field}' must be ${expected}, got ${got}`);
  }

  /** A positive integer; `fallback` is used when the field is absent or null, otherwise the field is required. */
  positiveInt(field: string, fallback?: number): number {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const value = this.object[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      this.fail(field, 'a positive integer');
    }
    return value;
  }

  /** A finite number > 0. */
  positiveNumber(field: string, fallback?: number): number {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const value = this.object[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) this.fail(field, 'a number > 0');
    return value;
  }

  boolean(field: string, fallback: boolean): boolean {
    if (!this.has(field)) return fallback;
    const value = this.object[field];
    if (typeof value !== 'boolean') this.fail(field, 'true or false');
    return value;
  }

  string(field: string, fallback: string): string {
    if (!this.has(field)) return fallback;
    const value = this.object[field];
    if (typeof value !== 'string') this.fail(field, 'a string');
    return value;
  }

  /** A token id or a list of token ids (e.g. eos_token_id); absent or null gives []. */
  idList(field: string): number[] {
    if (!this.has(field)) return [];
    const value = this.object[field];
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)) {
      this.fail(field, 'a token id or a list of token ids');
    }
    return list as number[];
  }
}
