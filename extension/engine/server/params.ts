// Validation of request parameters: every mistake is E_INVALID_ARGUMENT naming the field and what it got.
import { HipError } from '../errors';

export function optionalInt(value: unknown, name: string, min: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      `${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function stringList(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw new HipError('E_INVALID_ARGUMENT', `${name} must be an array of non-empty strings`);
  }
  return value as string[];
}
