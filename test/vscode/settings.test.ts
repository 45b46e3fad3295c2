// The extension's settings: the reader agrees with the package.json contribution (keys, defaults, choices), bad
// values are reported by name and replaced by the default, and the restart/re-ingest split covers what it should.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSize } from '../../extension/engine/size';
import {
  changedSettings,
  DEFAULT_SETTINGS,
  readSettings,
  REINGEST_SETTINGS,
  RESTART_SETTINGS,
  SETTING_KEYS,
} from '../../extension/vscode/settings';
import { REPO_ROOT } from '../helpers/cli';

interface Property {
  type: string;
  default: unknown;
  enum?: string[];
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
const properties: Record<string, Property> = manifest.contributes.configuration.properties;

describe('extension settings', () => {
  it('reads exactly the settings package.json contributes', () => {
    const contributed = Object.keys(properties).sort();
    const read = Object.values(SETTING_KEYS)
      .map((key) => `hipcode.${key}`)
      .sort();
    assert.deepEqual(read, contributed);
  });

  it("reads each contributed default as the reader's own default", () => {
    const defaults = readSettings((key) => properties[`hipcode.${key}`].default);
    assert.deepEqual(defaults.problems, []);
    assert.deepEqual(defaults.settings, DEFAULT_SETTINGS);
    assert.equal(defaults.settings.maxFileBytes, 1024 * 1024);
  });

  it('accepts every enum choice of the contribution', () => {
    for (const [name, property] of Object.entries(properties)) {
      for (const choice of property.enum ?? []) {
        const key = name.slice('hipcode.'.length);
        const { problems } = readSettings((asked) => (asked === key ? choice : undefined));
        assert.deepEqual(problems, [], `${name} = ${choice}`);
      }
    }
  });

  it('reports a bad value by its setting name and falls back to the default', () => {
    const bad: Record<string, unknown> = {
      backend: 'tpu',
      gpuKvBudget: 'lots',
      hostKvBudget: 'plenty',
      kvDtype: 'fp4',
      'generation.maxTokens': 0,
      'generation.temperature': -1,
      exclude: ['ok', ''],
      device: 1.5,
    };
    const { settings, problems } = readSettings((key) => bad[key]);
    assert.equal(problems.length, 8);
    for (const key of Object.keys(bad)) {
      assert.ok(
        problems.some((problem) => problem.startsWith(`hipcode.${key} must be`)),
        `no problem names hipcode.${key}: ${problems.join(' | ')}`,
      );
    }
    assert.equal(settings.backend, 'auto');
    assert.equal(settings.hostKvBudget, 'auto');
    assert.equal(settings.maxTokens, 512);
    assert.deepEqual(settings.exclude, []);
  });

  it('parses sizes in powers of 1024 and trims strings', () => {
    const given: Record<string, unknown> = {
      gpuKvBudget: '16G',
      maxFileSize: '256k',
      modelPath: '  /models/q  ',
    };
    const { settings, problems } = readSettings((key) => given[key]);
    assert.deepEqual(problems, []);
    assert.equal(settings.gpuKvBudget, 16 * 2 ** 30);
    assert.equal(settings.maxFileBytes, 256 * 1024);
    assert.equal(settings.modelPath, '/models/q');
    assert.equal(parseSize('1.5M'), 1.5 * 2 ** 20);
    assert.equal(parseSize('12 parsecs'), undefined);
  });

  it('reads the host KV budget: absent, empty or "auto" = automatic, "0" = none, sizes in bytes', () => {
    const read = (value: unknown) => readSettings((key) => (key === 'hostKvBudget' ? value : undefined));
    for (const automatic of [undefined, '', 'auto', ' AUTO ']) {
      const { settings, problems } = read(automatic);
      assert.deepEqual(problems, [], JSON.stringify(automatic));
      assert.equal(settings.hostKvBudget, 'auto', JSON.stringify(automatic));
    }
    assert.equal(read('0').settings.hostKvBudget, 0);
    assert.equal(read(0).settings.hostKvBudget, 0);
    assert.equal(read('48G').settings.hostKvBudget, 48 * 2 ** 30);
    assert.equal(read('512M').settings.hostKvBudget, 512 * 2 ** 20);
    assert.match(read('-1G').problems.join(), /^hipcode.hostKvBudget must be a size such as "48G"/);
    assert.ok(RESTART_SETTINGS.includes('hostKvBudget'), 'changing it restarts the engine');
  });

  it('lists the changed settings, and restart and re-ingest settings do not overlap', () => {
    const after = { ...DEFAULT_SETTINGS, backend: 'cpu' as const, exclude: ['dist/'], maxTokens: 64 };
    assert.deepEqual(changedSettings(DEFAULT_SETTINGS, after).sort(), ['backend', 'exclude', 'maxTokens']);
    assert.deepEqual(changedSettings(DEFAULT_SETTINGS, { ...DEFAULT_SETTINGS, exclude: [] }), []);
    assert.equal(
      RESTART_SETTINGS.filter((key) => REINGEST_SETTINGS.includes(key)).length,
      0,
      'a setting both restarts and re-ingests',
    );
  });
});
