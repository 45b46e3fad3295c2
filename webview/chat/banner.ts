// The engine-state banner above the chat: restricted mode, first run (pick or download a model), loading,
// ingesting, crashed and stopped, plus the note on what the CPU can do when no GPU is usable.
import type { IngestProgress, ModelChoice, ViewState } from '../protocol';
import { postButton } from '../shared/buttons';
import { codicon, h } from '../shared/dom';
import { formatBytes, formatCompact } from '../shared/format';
import { progressBlock } from '../shared/progress';

function banner(kind: string, icon: string, title: string, ...body: (Node | string | null)[]): HTMLElement {
  return h(
    'section',
    { class: `banner banner-${kind}`, 'aria-label': title },
    h('h2', {}, codicon(icon), ' ', title),
    ...body,
  );
}

function restricted(): HTMLElement {
  return banner(
    'restricted',
    'shield',
    'Workspace not trusted',
    h(
      'p',
      {},
      'In Restricted Mode HiPCode reads no files and starts no engine. Trust this workspace to ask questions about it.',
    ),
    postButton('Manage Workspace Trust', { type: 'manageTrust' }, { icon: 'workspace-trusted' }),
  );
}

function modelItem(model: ModelChoice): HTMLElement {
  const facts = `${model.architecture} · ${formatCompact(model.contextLength)} context · ${formatBytes(model.bytes)}`;
  return h(
    'li',
    { class: 'model' },
    h('div', { class: 'model-name' }, model.name),
    h('div', { class: 'model-facts' }, facts),
    h('div', { class: 'model-dir' }, model.dir),
    model.problem
      ? h('div', { class: 'model-problem' }, `Cannot be used: ${model.problem}`)
      : postButton(
          'Use this model',
          { type: 'selectModel', dir: model.dir },
          { ariaLabel: `Use ${model.name}` },
        ),
  );
}

function downloadHelp(): HTMLElement {
  return h(
    'div',
    { class: 'download-help' },
    h(
      'p',
      {},
      'No model was found. HiPCode runs a Hugging Face model folder (config.json, tokenizer.json and *.safetensors), for example:',
    ),
    h(
      'ul',
      {},
      h('li', {}, h('code', {}, 'Qwen/Qwen2.5-Coder-7B-Instruct'), ' (or the 1.5B / 3B / 14B sizes)'),
      h('li', {}, h('code', {}, 'meta-llama/Llama-3.1-8B-Instruct')),
    ),
    h(
      'p',
      {},
      'Download one with ',
      h('code', {}, 'hf download Qwen/Qwen2.5-Coder-7B-Instruct'),
      ' — it lands in the Hugging Face cache (',
      h('code', {}, '~/.cache/huggingface/hub'),
      '), where HiPCode finds it — or put the folder anywhere and point the ',
      h('code', {}, 'hipcode.modelPath'),
      ' setting at it.',
    ),
  );
}

function noModel(models: readonly ModelChoice[]): HTMLElement {
  const list = models.length > 0 ? h('ul', { class: 'models' }, ...models.map(modelItem)) : downloadHelp();
  return banner(
    'no-model',
    'hubot',
    models.length > 0 ? 'Choose a model' : 'No model yet',
    list,
    postButton(
      'Browse…',
      { type: 'selectModel' },
      { icon: 'folder-opened', secondary: true, ariaLabel: 'Browse for a model folder' },
    ),
  );
}

function busy(
  kind: string,
  title: string,
  message: string | undefined,
  progress?: IngestProgress,
): HTMLElement {
  return banner(
    kind,
    'loading',
    title,
    h('vscode-progress-ring', { 'aria-label': title }),
    message ? h('p', {}, message) : null,
    progress ? progressBlock(progress) : null,
  );
}

function crashed(message: string | undefined): HTMLElement {
  return banner(
    'crashed',
    'error',
    'The engine stopped unexpectedly',
    h('p', { role: 'alert' }, message ?? 'The engine process exited.'),
    h(
      'div',
      { class: 'actions' },
      postButton(
        'Restart',
        { type: 'restartEngine' },
        { icon: 'debug-restart', ariaLabel: 'Restart engine' },
      ),
      postButton(
        'Show log',
        { type: 'showLog' },
        { icon: 'output', secondary: true, ariaLabel: 'Show engine log' },
      ),
    ),
  );
}

function stopped(message: string | undefined): HTMLElement {
  return banner(
    'stopped',
    'debug-stop',
    'The engine is not running',
    message ? h('p', {}, message) : null,
    postButton('Start', { type: 'restartEngine' }, { icon: 'play', ariaLabel: 'Start engine' }),
  );
}

/** The banner for the engine's phase, or null when the chat is usable as is. */
function phaseBanner(state: ViewState): HTMLElement | null {
  const { engine } = state;
  switch (engine.phase) {
    case 'restricted':
      return restricted();
    case 'noModel':
      return noModel(state.models ?? []);
    case 'starting':
      return busy('starting', 'Loading the model', engine.message ?? engine.modelDir);
    case 'ingesting':
      return busy('ingesting', 'Reading the workspace', engine.message, state.progress);
    case 'crashed':
      return crashed(engine.message);
    case 'stopped':
      return stopped(engine.message);
    default:
      return null;
  }
}

/** Everything above the turns: the phase banner and the GPU note. */
export function renderBanners(container: Element, state: ViewState): void {
  const note = state.gpuNote
    ? h('p', { class: 'gpu-note', role: 'note' }, codicon('info'), ' ', state.gpuNote)
    : null;
  container.replaceChildren(
    ...[phaseBanner(state), note].filter((node): node is HTMLElement => node !== null),
  );
}
