// `hipcode models`: lists the models found in the Hugging Face cache and in --dir folders, each validated.
import { discoverModels, huggingFaceCacheDir, type DiscoveredModel } from '../model/discover';
import { parseFlags } from './args';
import { writeJson, writeOut } from './output';

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

function line(model: DiscoveredModel): string {
  if (!model.usable) return `  ✗ ${model.id}  ${model.path}\n      ${model.problem}`;
  return (
    `  ✓ ${model.id}  ${model.architecture}, ${gib(model.weightBytes ?? 0)} of weights, ` +
    `context ${model.contextLength}\n      ${model.path}`
  );
}

export async function modelsCommand(args: string[]): Promise<void> {
  const values = parseFlags('models', args, {
    dir: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  const folders = (values.dir as unknown as string[] | undefined) ?? [];
  const models = discoverModels(folders);
  if (values.json) return writeJson({ cache: huggingFaceCacheDir(), models });
  const searched = [huggingFaceCacheDir(), ...folders].join(', ');
  if (models.length === 0) {
    return writeOut(
      `no models found in ${searched}\n` +
        `Download a Hugging Face checkpoint (config.json, tokenizer.json, *.safetensors), e.g. ` +
        `Qwen2.5-Coder-7B-Instruct, into one of these folders or pass --dir FOLDER.\n`,
    );
  }
  await writeOut(`models in ${searched}:\n${models.map(line).join('\n')}\n`);
}
