// Entry of the engine process (dist/engine.js): JSON-RPC 2.0 over stdin/stdout, logs on stderr.
// The protocol is documented in ../protocol.ts.
import { serve } from './connection';
import { createLogger } from './log';
import { stdioConnection } from '../stdio-connection';

function main(): void {
  const log = createLogger();
  // stdout is the protocol's: anything a library prints with console goes to stderr instead.
  console.log = (...args: unknown[]) => log.info(args.map(String).join(' '));
  console.info = console.log;
  console.warn = (...args: unknown[]) => log.warn(args.map(String).join(' '));
  console.error = (...args: unknown[]) => log.error(args.map(String).join(' '));

  const connection = stdioConnection(process.stdin, process.stdout);
  const exit = (code: number): void => {
    engine.dispose();
    connection.dispose();
    process.exit(code);
  };
  const engine = serve(connection, { log, exit });
  connection.onClose(() => {
    log.info('stdin closed; exiting');
    exit(0);
  });
  process.on('uncaughtException', (error) => log.error(`uncaught: ${error.stack ?? error.message}`));
  process.on('unhandledRejection', (reason) => log.error(`unhandled rejection: ${String(reason)}`));
  log.info(`engine ready (pid ${process.pid}, node ${process.version})`);
  connection.listen();
}

main();
