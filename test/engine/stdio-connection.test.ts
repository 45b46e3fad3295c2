// The stdio JSON-RPC connection: messages pass, and a message cut off by a dying peer leaves no timer that keeps
// the process alive (vscode-jsonrpc's partial-message timer re-arms itself forever and survives dispose).
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { NotificationType } from 'vscode-jsonrpc/node';
import { stdioConnection } from '../../extension/engine/stdio-connection';

const Ping = new NotificationType<{ n: number }>('test/ping');
const frame = (body: string) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
/** Waits 20 ms, then a turn of the loop so that the timer that waited no longer counts as active. */
async function tick(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setImmediate(resolve));
}
const timers = () => process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;

describe('stdio connection', () => {
  it('reads whole messages, and a message cut off mid-way leaves no timer once the stream ends', async () => {
    const input = new PassThrough();
    const connection = stdioConnection(input, new PassThrough());
    const received: number[] = [];
    connection.onNotification(Ping, ({ n }) => received.push(n));
    connection.onClose(() => connection.dispose());
    connection.listen();
    await tick(); // mocha's own timer for this test is armed by now
    const before = timers();

    input.write(frame(JSON.stringify({ jsonrpc: '2.0', method: 'test/ping', params: { n: 7 } })));
    await tick();
    assert.deepEqual(received, [7]);

    input.write(
      frame(JSON.stringify({ jsonrpc: '2.0', method: 'test/ping', params: { n: 8 } })).slice(0, 40),
    );
    await tick();
    input.end();
    await tick();
    assert.deepEqual(received, [7]);
    assert.equal(timers(), before, 'a timer outlives the connection');
  });
});
