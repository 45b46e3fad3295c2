// Turns: work runs one at a time in arrival order; a caller still waiting can give up its turn.
import assert from 'node:assert/strict';
import { Turns } from '../../extension/engine/server/turns';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('turns', () => {
  it('runs work one at a time, in arrival order', async () => {
    const turns = new Turns();
    const log: string[] = [];
    const job = (name: string) =>
      turns.run(undefined, name, async () => {
        log.push(`${name} start`);
        await tick();
        log.push(`${name} end`);
        return name;
      });
    assert.deepEqual(await Promise.all([job('a'), job('b'), job('c')]), ['a', 'b', 'c']);
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    assert.equal(turns.pending, 0);
  });

  it('a caller cancelled while waiting gives up its turn at once; the next still waits for the first', async () => {
    const turns = new Turns();
    let release!: () => void;
    const first = turns.run(undefined, 'first', () => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    const second = turns.run(controller.signal, 'the second', () => Promise.resolve('ran'));
    let thirdRan = false;
    const third = turns.run(undefined, 'third', async () => {
      thirdRan = true;
    });
    assert.equal(turns.pending, 3);
    controller.abort();
    await assert.rejects(second, { code: 'E_CANCELLED', message: 'the second was cancelled' });
    await tick();
    assert.equal(thirdRan, false);
    release();
    await Promise.all([first, third]);
    assert.equal(thirdRan, true);
  });

  it('a failing turn passes the turn on', async () => {
    const turns = new Turns();
    const failed = turns.run(undefined, 'x', () => Promise.reject(new Error('boom')));
    const next = turns.run(undefined, 'y', () => Promise.resolve(1));
    await assert.rejects(failed, /boom/);
    assert.equal(await next, 1);
  });
});
