// Byte sizes written by people: a number with an optional K/M/G/T suffix (powers of 1024), e.g. 16G or 512MiB.

const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** The bytes of `text`, or undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * SIZE_UNITS[match[2].toLowerCase()]);
}
