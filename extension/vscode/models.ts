// Model discovery for the first run and "Select model": runs `hipcode models --json` in a child process (it reads
// weight headers and tokenizers, which is not for the extension host) and maps its answer for the views.
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import type { DiscoveredModel } from '../engine/model/discover';
import type { ModelChoice } from '../../webview/protocol';

const DISCOVERY_TIMEOUT_MS = 60_000;

function choice(model: DiscoveredModel): ModelChoice {
  return {
    dir: model.path,
    name: model.id || basename(model.path),
    architecture: model.architecture ?? 'unknown',
    contextLength: model.contextLength ?? 0,
    bytes: model.weightBytes ?? 0,
    ...(model.usable ? {} : { problem: model.problem ?? 'not usable' }),
  };
}

/** Lists the models in the Hugging Face cache and in `folders`, usable ones first. */
export function discoverModels(cli: string, folders: readonly string[]): Promise<ModelChoice[]> {
  const args = [cli, 'models', '--json', ...folders.flatMap((folder) => ['--dir', folder])];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      {
        env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
        timeout: DISCOVERY_TIMEOUT_MS,
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`model discovery failed: ${stderr.trim() || error.message}`));
          return;
        }
        try {
          const answer = JSON.parse(stdout) as { models: DiscoveredModel[] };
          const models = answer.models.map(choice);
          models.sort((a, b) => Number(a.problem !== undefined) - Number(b.problem !== undefined));
          resolve(models);
        } catch (parseError) {
          reject(new Error(`model discovery printed no JSON: ${(parseError as Error).message}`));
        }
      },
    );
  });
}
