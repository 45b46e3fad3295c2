// Maps the Hugging Face tensor names of a checkpoint to the native ModelWeightRefs, checking presence and shapes.
import { HipError } from '../errors';
import type { LayerWeightRefs, LinearRef, ModelWeightRefs, TensorRef } from '../native';
import type { Checkpoint } from './checkpoint';
import type { ModelConfig } from './config';

/** Tensors some checkpoints carry that do not affect the result. */
const IGNORED = [/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/, /^model\.rotary_emb\.inv_freq$/];

/** Looks up tensors, checks their shapes and records which names were used. */
class TensorPicker {
  readonly used = new Set<string>();

  constructor(private readonly checkpoint: Checkpoint) {}

  get(name: string, shape: number[]): TensorRef {
    const ref = this.checkpoint.tensors.get(name);
    if (!ref) {
      throw new HipError(
        'E_WEIGHTS',
        `tensor '${name}' is missing from the checkpoint (${this.checkpoint.files.join(', ')}); ` +
          `the weights do not match config.json — download the model again`,
      );
    }
    const same = ref.shape.length === shape.length && ref.shape.every((d, i) => d === shape[i]);
    if (!same) {
      throw new HipError(
        'E_WEIGHTS',
        `tensor '${name}' in ${ref.file} has shape [${ref.shape.join(', ')}] but config.json implies ` +
          `[${shape.join(', ')}]; the weights do not match config.json`,
      );
    }
    this.used.add(name);
    return ref;
  }

  linear(prefix: string, out: number, inFeatures: number, bias: boolean): LinearRef {
    const weight = this.get(`${prefix}.weight`, [out, inFeatures]);
    return bias ? { weight, bias: this.get(`${prefix}.bias`, [out]) } : { weight };
  }
}

function layerRefs(pick: TensorPicker, config: ModelConfig, il: number): LayerWeightRefs {
  const p = `model.layers.${il}`;
  const hidden = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const inter = config.intermediateSize;
  const layer: LayerWeightRefs = {
    attnNorm: pick.get(`${p}.input_layernorm.weight`, [hidden]),
    q: pick.linear(`${p}.self_attn.q_proj`, qDim, hidden, config.qkvBias),
    k: pick.linear(`${p}.self_attn.k_proj`, kvDim, hidden, config.qkvBias),
    v: pick.linear(`${p}.self_attn.v_proj`, kvDim, hidden, config.qkvBias),
    o: pick.linear(`${p}.self_attn.o_proj`, hidden, qDim, config.oBias),
    mlpNorm: pick.get(`${p}.post_attention_layernorm.weight`, [hidden]),
    gate: pick.linear(`${p}.mlp.gate_proj`, inter, hidden, config.mlpBias),
    up: pick.linear(`${p}.mlp.up_proj`, inter, hidden, config.mlpBias),
    down: pick.linear(`${p}.mlp.down_proj`, hidden, inter, config.mlpBias),
  };
  if (!config.qkNorm) return layer;
  return {
    ...layer,
    qNorm: pick.get(`${p}.self_attn.q_norm.weight`, [config.headDim]),
    kNorm: pick.get(`${p}.self_attn.k_norm.weight`, [config.headDim]),
  };
}

/** Rejects tensors the config does not account for (e.g. an o_proj.bias when attention_bias is false). */
function checkNoExtras(checkpoint: Checkpoint, used: Set<string>, config: ModelConfig): void {
  for (const [name, ref] of checkpoint.tensors) {
    if (used.has(name) || IGNORED.some((re) => re.test(name))) continue;
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue; // tied: transformers uses the embeddings
    throw new HipError(
      'E_WEIGHTS',
      `tensor '${name}' in ${ref.file} is not used by ${config.architecture} with this config.json ` +
        `(it would change the result); check config.json (attention_bias, mlp_bias, num_hidden_layers, ...)`,
    );
  }
}

/** Builds the weight references of every layer from the checkpoint, validated against the config. */
export function mapWeights(config: ModelConfig, checkpoint: Checkpoint): ModelWeightRefs {
  const pick = new TensorPicker(checkpoint);
  const embed = pick.get('model.embed_tokens.weight', [config.vocabSize, config.hiddenSize]);
  const layers = Array.from({ length: config.numLayers }, (_, il) => layerRefs(pick, config, il));
  const finalNorm = pick.get('model.norm.weight', [config.hiddenSize]);
  const lmHead = config.tieWordEmbeddings
    ? embed
    : pick.get('lm_head.weight', [config.vocabSize, config.hiddenSize]);
  checkNoExtras(checkpoint, pick.used, config);
  return { embed, layers, finalNorm, lmHead };
}
