// Loads a Hugging Face model folder: validates config, weights and tokenizer, then builds it in the native addon.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { HipError, toHipError } from '../errors';
import {
  loadAddon,
  type AttentionMode,
  type BackendName,
  type HipSpec,
  type KvDtype,
  type ModelWeightRefs,
  type NativeAddon,
  type NativeModel,
} from '../native';
import { loadTokenizer, type TextTokenizer } from '../text/tokenizer';
import { openCheckpoint, type Checkpoint } from './checkpoint';
import { readModelConfig, toGeometry, type ModelConfig } from './config';
import { mapWeights } from './weights';

export type BackendChoice = BackendName | 'auto';

export interface LoadOptions {
  backend: BackendChoice;
  /** CUDA device ordinal. */
  device?: number;
  /** CPU worker threads (0 or absent = all). */
  threads?: number;
  /** Bytes of GPU memory for the KV cache (0 or absent = automatic). */
  gpuKvBudget?: number;
  /** Bytes of pinned host memory for KV pages beyond the GPU budget (0 = none, absent = automatic). */
  hostKvBudget?: number;
  /** How the KV cache keeps rows (absent or 'auto' = the backend's). */
  kvDtype?: KvDtype | 'auto';
  /** Attention of decode steps (default dense) and the HiP knobs. */
  attention?: AttentionMode;
  hip?: HipSpec;
  /** Load tokenizer.json too (default true). */
  tokenizer?: boolean;
  /** Progress and fallback notes; default: stderr. */
  log?: (line: string) => void;
}

/** The validated files of a model folder. */
export interface ModelFiles {
  dir: string;
  config: ModelConfig;
  checkpoint: Checkpoint;
  weights: ModelWeightRefs;
}

export interface LoadedModel extends ModelFiles {
  native: NativeModel;
  tokenizer: TextTokenizer | undefined;
}

/** Throws E_MODEL_NOT_FOUND unless `dir` is an existing folder. */
export function checkModelDir(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new HipError(
      'E_MODEL_NOT_FOUND',
      `model folder ${dir} does not exist; pass --model a Hugging Face model folder`,
    );
  }
  if (!isDir) {
    throw new HipError(
      'E_MODEL_NOT_FOUND',
      `${dir} is not a folder; pass --model the folder holding config.json`,
    );
  }
}

/** Reads and validates config.json and the safetensors headers of `dir` (no weight data is read). */
export function readModelFiles(modelDir: string): ModelFiles {
  const dir = resolve(modelDir);
  checkModelDir(dir);
  const config = readModelConfig(dir);
  const checkpoint = openCheckpoint(dir);
  return { dir, config, checkpoint, weights: mapWeights(config, checkpoint) };
}

async function loadOn(
  addon: NativeAddon,
  files: ModelFiles,
  backend: BackendName,
  options: LoadOptions,
): Promise<NativeModel> {
  try {
    return await addon.loadModel({
      backend,
      device: options.device,
      threads: options.threads,
      gpuKvBudget: options.gpuKvBudget,
      hostKvBudget: options.hostKvBudget,
      kvDtype: options.kvDtype,
      attention: options.attention,
      hip: options.hip,
      geometry: toGeometry(files.config),
      weights: files.weights,
    });
  } catch (error) {
    throw toHipError(error);
  }
}

/** auto: CUDA when the probe finds a GPU and the model loads there, else the CPU with a note saying why. */
async function loadAuto(addon: NativeAddon, files: ModelFiles, options: LoadOptions): Promise<NativeModel> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const cuda = addon.probe().cuda;
  if (!cuda.available) {
    log(`hipcode: using the CPU backend: no usable GPU (${cuda.reason ?? 'CUDA backend not available'})`);
    return loadOn(addon, files, 'cpu', options);
  }
  try {
    return await loadOn(addon, files, 'cuda', options);
  } catch (error) {
    const e = toHipError(error);
    log(
      `hipcode: using the CPU backend: the CUDA backend could not load the model ([${e.code}] ${e.message})`,
    );
    return loadOn(addon, files, 'cpu', options);
  }
}

async function loadNative(files: ModelFiles, options: LoadOptions): Promise<NativeModel> {
  const addon = loadAddon();
  if (options.backend === 'auto') return loadAuto(addon, files, options);
  if (options.backend === 'cuda') {
    const cuda = addon.probe().cuda;
    if (!cuda.available) {
      throw new HipError(
        'E_BACKEND_UNAVAILABLE',
        `the CUDA backend is not available: ${cuda.reason ?? 'no usable GPU'}; use --backend cpu or auto`,
      );
    }
  }
  return loadOn(addon, files, options.backend, options);
}

/** Loads the tokenizer, then builds the already validated model files on the chosen backend. */
export async function loadModelFiles(files: ModelFiles, options: LoadOptions): Promise<LoadedModel> {
  const tokenizer =
    options.tokenizer === false ? undefined : loadTokenizer(files.dir, files.config.eosTokenIds);
  const native = await loadNative(files, options);
  return { ...files, native, tokenizer };
}

/** Validates the folder (config, weights), loads the tokenizer, then builds the model on the chosen backend. */
export function loadModel(dir: string, options: LoadOptions): Promise<LoadedModel> {
  return loadModelFiles(readModelFiles(dir), options);
}
