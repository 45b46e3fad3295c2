// Multi-turn asks through the engine process: the prompt of each turn equals the chat template's rendering of
// system, context with the first question, then the earlier answers and questions (checked by its length and by
// the greedy answer of a fresh one-shot prefill of it), and runs on in the fork of the turn before; the oldest
// turns give way when they do not fit.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ErrorCodes } from 'vscode-jsonrpc/node';
import { loadModel } from '../../extension/engine/model/load';
import { commonPrefixLength } from '../../extension/engine/answer/context-session';
import {
  AskRequest,
  StatusRequest,
  SyncWorkspaceRequest,
  type ChatTurn,
} from '../../extension/engine/protocol';
import {
  initialize,
  longContextModel,
  MODEL,
  rejection,
  startEngine,
  stopEngine,
  type EngineProcess,
} from '../helpers/engine';
import { makeRepo } from '../helpers/repo';
import { referenceAnswer, referencePrompt } from '../helpers/reference';

describe('engine multi-turn asks', function () {
  this.timeout(30000);
  let engine: EngineProcess;
  let repo = '';

  before(() => {
    repo = makeRepo({ 'src/a.ts': 'export const a = 1;\n', 'README.md': '# Repo\n' }, 'hipcode-chat-');
  });
  after(() => rmSync(repo, { recursive: true, force: true }));
  beforeEach(() => {
    engine = startEngine();
  });
  afterEach(() => stopEngine(engine));

  it('each turn renders as the template does, keeps the context cached and continues the last turn’s fork', async () => {
    const dir = longContextModel(2048);
    const model = await loadModel(dir, { backend: 'cpu', threads: 2 });
    try {
      await initialize(engine, dir);
      const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      const context = (await engine.connection.sendRequest(StatusRequest)).kv?.heldTokens ?? 0;
      const history: ChatTurn[] = [];
      let previous: number[] = [];
      for (const question of ['what is a?', 'and where is it defined?', 'is it exported?']) {
        const turn = `turn ${history.length + 1}`;
        const result = await engine.connection.sendRequest(AskRequest, { question, history, maxTokens: 10 });
        const ids = await referencePrompt(model, repo, report.totals.budget, question, { history });
        assert.equal(result.usage.promptTokens, ids.length, turn);
        assert.equal(result.answer, await referenceAnswer(model, ids, 10), turn);
        assert.equal(result.usage.historyTurns, history.length);
        assert.equal(result.usage.droppedTurns, 0);
        assert.ok(result.usage.cachedTokens >= report.totals.tokens);
        if (history.length > 0) {
          // A follow-up shares the earlier turn's prompt past the context: the fork that holds it runs on.
          const shared = commonPrefixLength(previous, ids);
          assert.ok(shared > context, `${turn} shares only the context with the one before`);
          assert.ok(result.usage.cachedTokens >= shared, `${turn}: ${result.usage.cachedTokens} cached`);
        }
        assert.equal((await engine.connection.sendRequest(StatusRequest)).kv?.heldTokens, context);
        history.push({ question, answer: result.answer });
        previous = ids;
      }
    } finally {
      model.native.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops the oldest turns that do not fit, never the context', async () => {
    const model = await loadModel(MODEL, { backend: 'cpu', threads: 2 });
    try {
      await initialize(engine);
      const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      const history = [1, 2, 3, 4].map((n) => ({
        question: `question ${n}?`,
        answer: `answer ${n} `.repeat(4),
      }));
      const question = 'last question?';
      const maxTokens = 16;
      const prompts = await Promise.all(
        history.map((_, k) =>
          referencePrompt(model, repo, report.totals.budget, question, { history: history.slice(k) }),
        ),
      );
      const expected = prompts.findIndex((ids) => ids.length + maxTokens <= 256);
      assert.ok(expected > 0, 'the test needs a history that does not fit whole');
      const result = await engine.connection.sendRequest(AskRequest, { question, history, maxTokens });
      assert.equal(result.usage.droppedTurns, expected);
      assert.equal(result.usage.historyTurns, history.length - expected);
      assert.equal(result.usage.contextTokens, report.totals.tokens);
      assert.equal(result.usage.promptTokens, prompts[expected].length);
      assert.equal(result.answer, await referenceAnswer(model, prompts[expected], maxTokens));
    } finally {
      model.native.dispose();
    }
  });

  it('an invalid history is E_INVALID_ARGUMENT naming the field', async () => {
    await initialize(engine);
    const cases: [unknown, RegExp][] = [
      ['not a list', /history must be an array/],
      [[{ question: 'q', answer: 3 }], /history\[0\]\.answer must be a string/],
      [
        [{ question: 'q', answer: 'a' }, { answer: 'b' }],
        /history\[1\]\.question must be a non-empty string/,
      ],
      [[null], /history\[0\]\.question/],
    ];
    for (const [history, message] of cases) {
      const error = await rejection(
        engine.connection.sendRequest(AskRequest, { question: 'q', history } as never),
      );
      assert.equal(error.code, ErrorCodes.InvalidParams);
      assert.equal(error.data?.code, 'E_INVALID_ARGUMENT');
      assert.match(error.message, message);
    }
  });
});
