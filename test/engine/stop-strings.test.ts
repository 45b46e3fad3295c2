// StopMatcher: text split anywhere across pushes comes out whole, never showing a stop string or its start.
import assert from 'node:assert/strict';
import { StopMatcher } from '../../extension/engine/http/stop-strings';

/** Feeds `pieces`, returns what came out per push, the flushed rest and whether it stopped. */
function feed(stops: string[], pieces: string[]) {
  const matcher = new StopMatcher(stops);
  const out = pieces.map((piece) => matcher.push(piece));
  return { out, rest: matcher.flush(), stopped: matcher.stopped };
}

describe('StopMatcher', () => {
  it('passes text through when there are no stop strings', () => {
    assert.deepEqual(feed([], ['a', 'bc']), { out: ['a', 'bc'], rest: '', stopped: false });
  });

  it('holds back a possible start of a stop string and releases it when it is not one', () => {
    assert.deepEqual(feed(['END'], ['ab E', 'N', 'x']), {
      out: ['ab ', '', 'ENx'],
      rest: '',
      stopped: false,
    });
    assert.deepEqual(feed(['END'], ['ab EN']), { out: ['ab '], rest: 'EN', stopped: false });
  });

  it('cuts before a stop string split over pushes and drops everything after it', () => {
    assert.deepEqual(feed(['END'], ['ab E', 'NDcd', 'more']), {
      out: ['ab ', '', ''],
      rest: '',
      stopped: true,
    });
  });

  it('cuts at the earliest of several stop strings, within one push', () => {
    assert.deepEqual(feed(['b', 'yz'], ['axyzb']), { out: ['ax'], rest: '', stopped: true });
    assert.deepEqual(feed(['\n\n', 'STOP'], ['one\n', '\ntwo']), {
      out: ['one', ''],
      rest: '',
      stopped: true,
    });
  });
});
