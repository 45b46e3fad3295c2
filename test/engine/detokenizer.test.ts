// Tests streaming detokenization on a tiny byte-level BPE tokenizer where an emoji is split across byte tokens.
import assert from 'node:assert/strict';
import { Tokenizer } from '@huggingface/tokenizers';
import { Detokenizer } from '../../extension/engine/text/detokenizer';

function tinyTokenizer(): Tokenizer {
  // GPT-2 byte-level characters: 'Ġ' is byte 0x20; 'ð' 'Ł' 'ĺ' 'Ģ' are the bytes F0 9F 98 80 of 😀.
  // ids: 0 'h', 1 'i', 2 'Ġ', 3..6 the four emoji bytes, 7 'hi', 8 '<eos>' (added special)
  const vocab = { h: 0, i: 1, Ġ: 2, ð: 3, Ł: 4, ĺ: 5, Ģ: 6, hi: 7 };
  const json = {
    version: '1.0',
    added_tokens: [
      {
        id: 8,
        content: '<eos>',
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      vocab,
      merges: [['h', 'i']],
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
    },
  };
  return new Tokenizer(json, {});
}

function decodeWith(tokenizer: Tokenizer) {
  return (ids: readonly number[]) =>
    ids.length === 0 ? '' : tokenizer.decode([...ids], { clean_up_tokenization_spaces: false });
}

describe('streaming detokenizer', () => {
  it('the test tokenizer splits 😀 into four byte tokens', () => {
    const tokenizer = tinyTokenizer();
    assert.deepEqual(tokenizer.encode('hi 😀').ids, [7, 2, 3, 4, 5, 6]);
    assert.equal(decodeWith(tokenizer)([7, 2, 3, 4, 5, 6]), 'hi 😀');
  });

  it('holds back partial UTF-8 and emits the emoji once complete', () => {
    const detok = new Detokenizer(decodeWith(tinyTokenizer()));
    const pieces = [7, 2, 3, 4, 5, 6, 0, 8].map((id) => detok.push(id));
    assert.deepEqual(pieces, ['hi', ' ', '', '', '', '😀', 'h', '<eos>']);
    assert.equal(detok.flush(), '');
  });

  it('never emits a piece ending in U+FFFD and concatenates to the full decode', () => {
    const decode = decodeWith(tinyTokenizer());
    const ids = [3, 4, 5, 6, 3, 4, 5, 6, 2, 7, 3, 4, 5, 6];
    const detok = new Detokenizer(decode);
    const pieces = ids.map((id) => detok.push(id));
    for (const piece of pieces) assert.ok(!piece.endsWith('\uFFFD'), JSON.stringify(piece));
    assert.equal(pieces.join('') + detok.flush(), '😀😀 hi😀');
  });

  it('flushes an incomplete sequence at the end', () => {
    const detok = new Detokenizer(decodeWith(tinyTokenizer()));
    assert.equal(detok.push(7), 'hi');
    assert.equal(detok.push(3), '');
    assert.equal(detok.push(4), '');
    assert.ok(detok.flush().endsWith('\uFFFD'));
  });
});
