// Finds the safetensors weights of a model folder (one file or shards with an index) and maps every tensor.
import { existsSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { HipError } from '../errors';
import { isObject, readJsonObject } from '../json-file';
import type { TensorRef } from '../native';
import { readSafetensorsHeader } from './safetensors';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface Checkpoint {
  /** Absolute paths of the safetensors files. */
  files: string[];
  tensors: Map<string, TensorRef>;
}

/** Opens the weights of `dir`: the sharded index when present, else model.safetensors. */
export function openCheckpoint(dir: string): Checkpoint {
  const indexPath = resolve(dir, INDEX_FILE);
  if (existsSync(indexPath)) return openSharded(dir, indexPath);
  const single = resolve(dir, SINGLE_FILE);
  if (existsSync(single)) return { files: [single], tensors: readSafetensorsHeader(single) };
  throw new HipError(
    'E_WEIGHTS',
    `no weights found in ${resolve(dir)}: looked for ${INDEX_FILE} (sharded) and ${SINGLE_FILE}. ` +
      `Point --model at a Hugging Face model folder with safetensors weights.`,
  );
}

/** Reads `weight_map` (tensor name → shard file name) and checks each entry is a file name inside the folder. */
function readWeightMap(indexPath: string): Map<string, string> {
  const hint = 'Download the model again or fix the index.';
  const index = readJsonObject(indexPath, 'E_WEIGHTS', hint);
  const weightMap = index.weight_map;
  if (!isObject(weightMap)) {
    throw new HipError(
      'E_WEIGHTS',
      `${indexPath}: 'weight_map' must be an object of tensor name → file. ${hint}`,
    );
  }
  const result = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    const inside = typeof shard === 'string' && !isAbsolute(shard) && !normalize(shard).startsWith('..');
    if (!inside) {
      throw new HipError(
        'E_WEIGHTS',
        `${indexPath}: weight_map['${name}'] must be a file name inside the model folder, got ${JSON.stringify(shard)}`,
      );
    }
    result.set(name, shard);
  }
  return result;
}

function openSharded(dir: string, indexPath: string): Checkpoint {
  const weightMap = readWeightMap(indexPath);
  const headers = new Map<string, Map<string, TensorRef>>();
  for (const shard of new Set(weightMap.values())) {
    const path = resolve(join(dir, shard));
    if (!existsSync(path)) {
      throw new HipError(
        'E_WEIGHTS',
        `shard ${path} listed in ${indexPath} is missing; download the missing file or the model again`,
      );
    }
    headers.set(shard, readSafetensorsHeader(path));
  }
  const tensors = new Map<string, TensorRef>();
  for (const [name, shard] of weightMap) {
    const ref = headers.get(shard)?.get(name);
    if (!ref) {
      throw new HipError(
        'E_WEIGHTS',
        `tensor '${name}' is listed in ${indexPath} for shard ${resolve(dir, shard)} but that shard does not contain it`,
      );
    }
    tensors.set(name, ref);
  }
  return { files: [...headers.keys()].map((shard) => resolve(dir, shard)).sort(), tensors };
}
