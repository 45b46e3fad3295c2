// Loads the model named by the common flags (--model, --backend, --threads, --device, --gpu-kv-budget,
// --host-kv-budget, --attention with HIPCODE_HIP) and disposes it after use.
import { loadModelFiles, readModelFiles, type LoadedModel, type ModelFiles } from '../model/load';
import {
  attentionFlag,
  backendFlag,
  hipSpecFromEnv,
  intFlag,
  optionalSizeFlag,
  requireString,
  sizeFlag,
  type Values,
} from './args';

export interface WithModelOptions {
  /** Also load tokenizer.json. */
  tokenizer: boolean;
  /** Checks the input against the validated files before the (slow) native load. */
  check?: (files: ModelFiles) => void;
}

/** Runs `use` with the loaded model and always disposes the native model afterwards. */
export async function withModel<T>(
  values: Values,
  options: WithModelOptions,
  use: (model: LoadedModel) => Promise<T>,
): Promise<T> {
  const loadOptions = {
    backend: backendFlag(values),
    threads: intFlag(values, 'threads', 0),
    gpuKvBudget: sizeFlag(values, 'gpu-kv-budget'),
    hostKvBudget: optionalSizeFlag(values, 'host-kv-budget'),
    device: intFlag(values, 'device', 0),
    attention: attentionFlag(values),
    hip: hipSpecFromEnv(),
    tokenizer: options.tokenizer,
  };
  const files = readModelFiles(requireString(values, 'model'));
  options.check?.(files);
  const model = await loadModelFiles(files, loadOptions);
  try {
    return await use(model);
  } finally {
    model.native.dispose();
  }
}
