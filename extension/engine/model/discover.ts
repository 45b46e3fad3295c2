// Finds model folders in the Hugging Face cache and in configured folders, and validates each one fully (config,
// weights headers, tokenizer) so a list of models says which will load and, for the others, why not.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { toHipError } from '../errors';
import { CONFIG_FILE } from './config';
import { describeModel } from './describe';
import { TOKENIZER_FILE } from '../text/tokenizer';

export interface DiscoveredModel {
  /** "org/name" for the Hugging Face cache, else the folder name. */
  id: string;
  path: string;
  source: 'huggingface-cache' | 'folder';
  usable: boolean;
  /** Why the model cannot be loaded (the loader's own error), when not usable. */
  problem?: string;
  architecture?: string;
  weightBytes?: number;
  contextLength?: number;
}

/** The hub cache folder: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function huggingFaceCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  if (env.HF_HOME) return resolve(env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter(
        (entry) => entry.isDirectory() || (entry.isSymbolicLink() && isDirectory(join(dir, entry.name))),
      )
      .map((entry) => join(dir, entry.name))
      .sort();
  } catch {
    return [];
  }
}

/** The snapshot `refs/main` names, else the newest snapshot folder of a `models--org--name` cache entry. */
function cachedSnapshot(entry: string): string | undefined {
  const snapshots = join(entry, 'snapshots');
  const ref = join(entry, 'refs', 'main');
  if (existsSync(ref)) {
    const pinned = join(snapshots, readFileSync(ref, 'utf8').trim());
    if (isDirectory(pinned)) return pinned;
  }
  const candidates = subfolders(snapshots);
  return candidates.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

function cacheModels(cacheDir: string): { id: string; path: string }[] {
  return subfolders(cacheDir)
    .map((entry) => ({ entry, name: entry.slice(entry.lastIndexOf('/') + 1) }))
    .filter(({ name }) => name.startsWith('models--'))
    .flatMap(({ entry, name }) => {
      const snapshot = cachedSnapshot(entry);
      return snapshot ? [{ id: name.slice('models--'.length).split('--').join('/'), path: snapshot }] : [];
    });
}

/** A configured folder is a model folder itself, or holds model folders one level down. */
function folderModels(folder: string): { id: string; path: string }[] {
  const dir = resolve(folder);
  const asModel = (path: string) => ({ id: path.slice(path.lastIndexOf('/') + 1), path });
  if (existsSync(join(dir, CONFIG_FILE))) return [asModel(dir)];
  return subfolders(dir)
    .filter((path) => existsSync(join(path, CONFIG_FILE)))
    .map(asModel);
}

/** Validates a model folder the way loading it would, without the native addon. */
export function validateModel(id: string, path: string, source: DiscoveredModel['source']): DiscoveredModel {
  try {
    const description = describeModel(path);
    if (!existsSync(join(path, TOKENIZER_FILE))) {
      return { id, path, source, usable: false, problem: `${join(path, TOKENIZER_FILE)} is missing` };
    }
    return {
      id,
      path,
      source,
      usable: true,
      architecture: description.config.architecture,
      weightBytes: description.weights.totalBytes,
      contextLength: description.config.maxPositionEmbeddings,
    };
  } catch (error) {
    const e = toHipError(error);
    return { id, path, source, usable: false, problem: `[${e.code}] ${e.message}` };
  }
}

/** Every model in the Hugging Face cache and in `folders`, usable ones first, then by id. */
export function discoverModels(
  folders: readonly string[],
  cacheDir = huggingFaceCacheDir(),
): DiscoveredModel[] {
  const found = [
    ...cacheModels(cacheDir).map((m) => validateModel(m.id, m.path, 'huggingface-cache')),
    ...folders.flatMap(folderModels).map((m) => validateModel(m.id, m.path, 'folder')),
  ];
  return found.sort((a, b) => Number(b.usable) - Number(a.usable) || a.id.localeCompare(b.id));
}
