// The JSON-RPC connection over a pair of streams that both ends of protocol.ts use: the engine on its stdin and
// stdout, the extension on the engine process's stdout and stdin.
import type { Readable, Writable } from 'node:stream';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';

/**
 * A connection reading `input` and writing `output`. Its reader keeps no partial-message timer: vscode-jsonrpc
 * re-arms that timer every 10 s for as long as a message stays incomplete, and disposing the reader does not
 * stop it, so a peer killed in the middle of a message would keep this process alive forever. Nothing here
 * listens for partial messages.
 */
export function stdioConnection(input: Readable, output: Writable): MessageConnection {
  const reader = new StreamMessageReader(input);
  reader.partialMessageTimeout = 0;
  return createMessageConnection(reader, new StreamMessageWriter(output));
}
