// Number, rate, duration and size formatting for the views (English, grouped digits).

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return integer.format(n);
}

/** 1234567 → "1.2M", 45300 → "45.3K", 999 → "999". */
export function formatCompact(n: number): string {
  if (n >= 1e6) return `${oneDecimal.format(n / 1e6)}M`;
  if (n >= 1e3) return `${oneDecimal.format(n / 1e3)}K`;
  return integer.format(n);
}

/** 12.345 → "12.3". */
export function formatRate(n: number): string {
  return oneDecimal.format(n);
}

/** Seconds as "45 s", "3 min 05 s" or "1 h 02 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Bytes as "812 B", "1.5 KiB", "14.2 GiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? integer.format(value) : oneDecimal.format(value)} ${units[unit]}`;
}

/** part/whole as "12.5%" (0% when whole is 0). */
export function formatPercent(part: number, whole: number): string {
  return `${oneDecimal.format(whole > 0 ? (100 * part) / whole : 0)}%`;
}
