// Prints the markdown table of bench/results: the engine against transformers + SDPA, per geometry, same GPU and run.
//   node bench/report.mjs [RESULTS_DIR]
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? join(import.meta.dirname, 'results');
const read = (file) => JSON.parse(readFileSync(join(dir, file), 'utf8'));
const geometries = readdirSync(dir)
  .filter((file) => file.startsWith('hipcode-') && file.endsWith('.json'))
  .map((file) => file.slice('hipcode-'.length, -'.json'.length));

const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
console.log(
  '| geometry | GPU | prefill 32K: hipcode | transformers | speed-up | decode @8K: hipcode | transformers | speed-up | commit | date |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const geometry of geometries) {
  const ours = read(`hipcode-${geometry}.json`);
  const peer = read(`transformers-${geometry}.json`);
  const prefill = `${ours.prefill.tokensPerSecond.toFixed(0)} tok/s (${ours.prefill.ms.toFixed(0)} ms)`;
  const peerPrefill = `${peer.prefill.tokens_per_s.toFixed(0)} tok/s (${peer.prefill.ms.toFixed(0)} ms)`;
  const decode = `${ours.decode.msPerToken.toFixed(2)} ms/token`;
  const peerDecode = `${peer.decode.ms_per_token.toFixed(2)} ms/token`;
  console.log(
    `| ${geometry} | ${ours.device} | ${prefill} | ${peerPrefill} | ${ratio(peer.prefill.ms, ours.prefill.ms)} | ` +
      `${decode} | ${peerDecode} | ${ratio(peer.decode.ms_per_token, ours.decode.msPerToken)} | ${ours.commit ?? 'unknown'} | ${ours.date.slice(0, 10)} |`,
  );
}
