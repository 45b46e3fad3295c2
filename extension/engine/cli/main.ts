// Entry point of the `hipcode` CLI: dispatches the command and turns errors into one stderr line and an exit code.
import { toHipError } from '../errors';
import { usage } from './args';
import { askCommand } from './ask';
import { benchCommand } from './bench';
import { contextCommand } from './context';
import { generateCommand } from './generate';
import { HELP } from './help';
import { inspectCommand } from './inspect';
import { logitsCommand } from './logits';
import { modelsCommand } from './models';
import { writeOut } from './output';
import { serveCommand } from './serve';
import { tokenizeCommand } from './tokenize';

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  logits: logitsCommand,
  generate: generateCommand,
  tokenize: tokenizeCommand,
  inspect: inspectCommand,
  bench: benchCommand,
  context: contextCommand,
  ask: askCommand,
  models: modelsCommand,
  serve: serveCommand,
};

const EXIT_ERROR = 1;
const EXIT_USAGE = 2;

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || argv.includes('--help') || argv.includes('-h')) {
    return writeOut(HELP);
  }
  const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!handler)
    throw usage(`unknown command '${command}'; commands: ${Object.keys(COMMANDS).join(', ')}, help`);
  await handler(rest);
}

/** Runs the CLI and exits: 0 on success, 2 on usage errors, 1 on any other error (one line on stderr). */
export async function main(argv: string[]): Promise<never> {
  let code = 0;
  try {
    await run(argv);
  } catch (error) {
    const e = toHipError(error);
    const oneLine = e.message.replace(/\s*\n\s*/g, '; ');
    process.stderr.write(`hipcode: error [${e.code}]: ${oneLine}\n`);
    if (e.code === 'E_INTERNAL' && process.env.HIPCODE_DEBUG)
      process.stderr.write(`${(error as Error).stack}\n`);
    code = e.code === 'E_USAGE' ? EXIT_USAGE : EXIT_ERROR;
  }
  process.exit(code);
}

void main(process.argv.slice(2));
