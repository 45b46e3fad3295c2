// Server-sent events as the OpenAI streaming API sends them: `data: {json}\n\n` events, then `data: [DONE]`.
import type { ServerResponse } from 'node:http';

export class SseWriter {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    });
    // Each event goes out as soon as it is written.
    res.socket?.setNoDelay(true);
  }

  send(value: unknown): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** Ends the stream; `done` adds the `[DONE]` event a complete stream ends with. */
  end(done: boolean): void {
    if (this.res.writableEnded) return;
    this.res.end(done ? 'data: [DONE]\n\n' : undefined);
  }
}
