// Restart backoff after engine crashes: doubling delays, a cap, giving up after repeated crashes, a window.
import assert from 'node:assert/strict';
import { RestartPolicy } from '../../extension/vscode/restart-policy';

describe('engine restart policy', () => {
  const options = { initialDelayMs: 1000, maxDelayMs: 3000, maxCrashes: 4, windowMs: 60_000 };

  it('doubles the delay per crash up to the cap, then waits for the user', () => {
    const policy = new RestartPolicy(options);
    assert.deepEqual(policy.crashed(0), { restart: true, delayMs: 1000 });
    assert.deepEqual(policy.crashed(10), { restart: true, delayMs: 2000 });
    assert.deepEqual(policy.crashed(20), { restart: true, delayMs: 3000 });
    assert.deepEqual(policy.crashed(30), { restart: false, crashes: 4 });
  });

  it('forgets crashes older than the window, and all of them on reset', () => {
    const policy = new RestartPolicy(options);
    policy.crashed(0);
    policy.crashed(1000);
    assert.deepEqual(policy.crashed(60_500), { restart: true, delayMs: 2000 });
    policy.reset();
    assert.deepEqual(policy.crashed(61_000), { restart: true, delayMs: 1000 });
  });
});
