// Root hook (loaded by .mocharc.json): after the last test, fails the run when something a test started (a
// timer, a child process, a socket) still keeps the process alive, and names it; .mocharc.json's `exit` then
// ends mocha instead of letting the leak hold CI until its time limit.
const SETTLE_MS = 10_000;

function count(types: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of types) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

const atStart = count(process.getActiveResourcesInfo());

/** Waits 100 ms, then a turn of the loop so that the timer that waited no longer counts as active. */
async function pause(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await new Promise((resolve) => setImmediate(resolve));
}

/** The resources beyond those alive before the first test, as 'type ×n'. */
function leftOver(): string[] {
  const extra: string[] = [];
  for (const [type, n] of count(process.getActiveResourcesInfo())) {
    const more = n - (atStart.get(type) ?? 0);
    if (more > 0) extra.push(`${type} ×${more}`);
  }
  return extra;
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(0);
    await pause();
    // Mocha arms this hook's own timer once the hook has returned its promise: it keeps nothing alive.
    (this.runnable() as unknown as { timer?: NodeJS.Timeout }).timer?.unref();
    const deadline = Date.now() + SETTLE_MS;
    while (leftOver().length > 0 && Date.now() < deadline) await pause();
    const extra = leftOver();
    if (extra.length > 0) {
      throw new Error(
        `the tests left ${extra.join(', ')} keeping the process alive ${SETTLE_MS / 1000} s after the last one; ` +
          'a test must stop the timers, processes and servers it starts',
      );
    }
  },
};
