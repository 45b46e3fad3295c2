// Tests chat template lookup and rendering against hand-written expected prompts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HipError } from '../../extension/engine/errors';
import { findChatTemplate, loadChatTemplate } from '../../extension/engine/text/chat-template';
import { readChatFile, singleTurn } from '../../extension/engine/text/prompt';
import { tempDir } from './safetensors-writer';

const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('chat template', () => {
  it('renders ChatML with the generation prompt', () => {
    const template = loadChatTemplate(tempDir(), { chat_template: CHATML }, {});
    const text = template.render(singleTurn('Hi there', 'Be brief.'));
    assert.equal(
      text,
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n',
    );
    assert.equal(template.render([{ role: 'user', content: 'x' }], false), '<|im_start|>user\nx<|im_end|>\n');
  });

  it('passes special tokens as strings', () => {
    const template = loadChatTemplate(
      tempDir(),
      { chat_template: '{{ bos_token }}[{{ messages[0].content }}]{{ eos_token }}' },
      {
        bos_token: '<s>',
        eos_token: '</s>',
      },
    );
    assert.equal(template.render([{ role: 'user', content: 'q' }]), '<s>[q]</s>');
  });

  it('prefers chat_template.jinja, then a list entry named default', () => {
    const dir = tempDir();
    const list = [
      { name: 'tool_use', template: 'T' },
      { name: 'default', template: 'D' },
    ];
    assert.equal(findChatTemplate(dir, { chat_template: list }), 'D');
    writeFileSync(join(dir, 'chat_template.jinja'), 'J');
    assert.equal(findChatTemplate(dir, { chat_template: 'S' }), 'J');
  });

  it('reports a missing template with what to do', () => {
    assert.throws(
      () => loadChatTemplate(tempDir(), {}, {}),
      (error: unknown) =>
        error instanceof HipError && error.code === 'E_TEMPLATE' && /--prompt or --ids/.test(error.message),
    );
  });

  it('turns raise_exception into E_TEMPLATE with the message', () => {
    const template = loadChatTemplate(
      tempDir(),
      { chat_template: "{{ raise_exception('roles must alternate') }}" },
      {},
    );
    assert.throws(
      () => template.render([{ role: 'user', content: 'x' }]),
      (error: unknown) =>
        error instanceof HipError &&
        error.code === 'E_TEMPLATE' &&
        /roles must alternate/.test(error.message),
    );
  });
});

describe('chat file', () => {
  it('reads a list of messages', () => {
    const file = join(tempDir(), 'chat.json');
    writeFileSync(file, JSON.stringify([{ role: 'user', content: 'hi', extra: 1 }]));
    assert.deepEqual(readChatFile(file), [{ role: 'user', content: 'hi' }]);
  });

  it('names the file and the bad index', () => {
    const file = join(tempDir(), 'chat.json');
    writeFileSync(
      file,
      JSON.stringify([
        { role: 'user', content: 'hi' },
        { role: 'user', content: 3 },
      ]),
    );
    assert.throws(
      () => readChatFile(file),
      (error: unknown) =>
        error instanceof HipError &&
        error.code === 'E_INVALID_ARGUMENT' &&
        error.message.includes(file) &&
        error.message.includes('item 1'),
    );
    writeFileSync(file, '{"role": "user"}');
    assert.throws(() => readChatFile(file), /must hold a JSON list/);
  });
});
