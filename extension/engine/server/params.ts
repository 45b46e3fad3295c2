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

/** An optional value that must be one of `choices`. */
export function optionalChoice<T extends string>(
  value: unknown,
  name: string,
  choices: readonly T[],
): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (choices.includes(value as T)) return value as T;
  throw new HipError(
    'E_INVALID_ARGUMENT',
    `${name} must be ${choices.join(', ')}, got ${JSON.stringify(value)}`,
  );
}
