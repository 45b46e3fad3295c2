// Leveled logging to stderr (stdout carries the protocol only): one line per message, `[info] …`.

export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A logger writing `[level] message` lines to `write` (default: stderr). */
export function createLogger(write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const at =
    (level: LogLevel) =>
    (message: string): void => {
      for (const line of message.split('\n')) write(`[${level}] ${line}\n`);
    };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}
