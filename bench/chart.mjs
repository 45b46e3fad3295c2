// Draws bench/results/hip-latency.svg from the committed HiP results: the engine's decode ms/token against the
// context (dense vs HiP, bench/results/hip/*.json), one layer's decode averaged over the (16, 8, 4) refresh
// schedule as the engine runs it, the steps between refreshes replayed from a CUDA graph
// (bench/results/checks/kernel-bench.txt), and one layer's prefill of a 32K-query chunk
// (bench/results/checks/kernel-bench-hip-prefill.txt) against the keys, each beside the published HiP
// reference and PyTorch SDPA measured on the same kind of GPU (bench/results/hip/peer-hip-reference.json).
//   node bench/chart.mjs [RESULTS_DIR]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? join(import.meta.dirname, 'results');
const readJson = (file) => JSON.parse(readFileSync(join(dir, file), 'utf8'));

const DECODE_CONTEXTS = [32768, 65536, 131072, 260000];
const PREFILL_KEYS = [131072, 1048576];
const peer = readJson('hip/peer-hip-reference.json').results;
const peerSeries = (value) => peer.map((r) => [r.keys, value(r)]);

function decodeSeries(attention) {
  return DECODE_CONTEXTS.map((context) => [
    context,
    readJson(`hip/${attention}-${context}.json`).decode.msMean,
  ]);
}

// A kernel bench log under checks/, read as a function of (pattern, unit): the first number before ` unit`
// after `pattern`.
function benchLog(file) {
  const log = readFileSync(join(dir, 'checks', file), 'utf8');
  return (pattern, unit) => {
    const match = log.match(new RegExp(`${pattern}\\s+(?:total\\s+)?([0-9.]+) ${unit}`));
    if (!match) throw new Error(`${file}: no line matching ${pattern}`);
    return Number(match[1]);
  };
}

function prefillSeries() {
  const ms = benchLog('kernel-bench-hip-prefill.txt');
  const ours = PREFILL_KEYS.map((keys) => [
    keys,
    ms(`hip_mask_prefill keys=${keys}\\s+n_q=32768`, 'ms') +
      ms(`hip_prefill sm90\\s+n_q=32768\\s+keys=${keys}`, 'ms'),
  ]);
  const dense = PREFILL_KEYS.map((keys) => [
    keys,
    ms(`dense attention_prefill n_q=32768\\s+keys=${keys}`, 'ms'),
  ]);
  return { ours, dense, reference: peerSeries((r) => r.referencePrefillMs) };
}

function decodeKernelSeries() {
  const us = benchLog('kernel-bench.txt');
  const series = (pattern) => PREFILL_KEYS.map((keys) => [keys, us(`hip keys=${keys}.*${pattern}`, 'us')]);
  return {
    ours: series('recorded'),
    dense: series('dense attention_decode'),
    reference: peerSeries((r) => r.referenceDecode.scheduleAverageMs * 1000),
    sdpa: peerSeries((r) => r.denseDecodeMs * 1000),
  };
}

const COLORS = { dense: '#888888', ours: '#1f77b4', reference: '#ff7f0e' };
const W = 420;
const H = 312;
const PAD = { left: 56, right: 16, top: 36, bottom: 50 };

const label = (tokens) => (tokens >= 1048576 ? `${tokens / 1048576}M` : `${Math.round(tokens / 1024)}K`);

// One panel at x offset `left`: series [{name, color, points: [[x, y]...], dashed}] on log2 x, y linear or log10.
function panel(left, title, yLabel, series, logY) {
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y));
  const [x0, x1] = [Math.log2(Math.min(...xs)) - 0.3, Math.log2(Math.max(...xs)) + 0.3];
  const f = logY ? Math.log10 : (y) => y;
  const [y0, y1] = logY
    ? [Math.floor(f(Math.min(...ys))), Math.ceil(f(Math.max(...ys)))]
    : [0, Math.max(...ys) * 1.15];
  const px = (x) => left + PAD.left + ((Math.log2(x) - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const py = (y) => PAD.top + (1 - (f(y) - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const ticks = logY
    ? Array.from({ length: y1 - y0 + 1 }, (_, i) => 10 ** (y0 + i))
    : [0, 2, 4, 6, 8, 10, 12, 14];
  const out = [`<text x="${left + W / 2}" y="20" text-anchor="middle" font-weight="bold">${title}</text>`];
  for (const tick of ticks.filter((t) => f(t) >= y0 && f(t) <= y1)) {
    out.push(
      `<line x1="${left + PAD.left}" x2="${left + W - PAD.right}" y1="${py(tick)}" y2="${py(tick)}" stroke="#eee"/>`,
    );
    out.push(`<text x="${left + PAD.left - 6}" y="${py(tick) + 4}" text-anchor="end">${tick}</text>`);
  }
  for (const x of [...new Set(xs)]) {
    out.push(`<text x="${px(x)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${label(x)}</text>`);
  }
  out.push(`<text x="${left + W / 2}" y="${H - 8}" text-anchor="middle">keys (context)</text>`);
  out.push(
    `<text x="${left + 14}" y="${H / 2}" text-anchor="middle" transform="rotate(-90 ${left + 14} ${H / 2})">${yLabel}</text>`,
  );
  series.forEach((s, i) => {
    const path = s.points
      .map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ');
    const dash = s.dashed ? ' stroke-dasharray="5,4"' : '';
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${s.color}"/>`);
    const ly = PAD.top + 4 + i * 16;
    out.push(
      `<line x1="${left + PAD.left + 10}" x2="${left + PAD.left + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${left + PAD.left + 36}" y="${ly + 4}">${s.name}</text>`);
  });
  return out.join('\n');
}

const prefill = prefillSeries();
const decode = decodeKernelSeries();
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * W}" height="${H}" font-family="sans-serif" font-size="11">`,
  `<rect width="${3 * W}" height="${H}" fill="white"/>`,
  panel(
    0,
    'Engine decode, Qwen2.5-7B geometry (H100)',
    'ms / token (mean)',
    [
      { name: 'dense', color: COLORS.dense, points: decodeSeries('dense') },
      { name: 'HiPCode HiP', color: COLORS.ours, points: decodeSeries('hip') },
    ],
    false,
  ),
  panel(
    W,
    'One layer, decode over the 16/8/4 refresh schedule (H100)',
    'µs (log scale)',
    [
      { name: 'dense split-K decode (ours)', color: COLORS.dense, points: decode.dense },
      { name: 'PyTorch SDPA (flash)', color: COLORS.dense, points: decode.sdpa, dashed: true },
      { name: 'HiPCode HiP (masks + attention)', color: COLORS.ours, points: decode.ours },
      {
        name: 'HiP reference (hip_attn v1.2)',
        color: COLORS.reference,
        points: decode.reference,
        dashed: true,
      },
    ],
    true,
  ),
  panel(
    2 * W,
    'One layer, 32K-query prefill chunk (H100)',
    'ms (log scale)',
    [
      { name: 'dense flash attention (ours)', color: COLORS.dense, points: prefill.dense },
      { name: 'HiPCode HiP (mask + attention)', color: COLORS.ours, points: prefill.ours },
      {
        name: 'HiP reference (hip_attn v1.2)',
        color: COLORS.reference,
        points: prefill.reference,
        dashed: true,
      },
    ],
    true,
  ),
  '</svg>',
  '',
].join('\n');
writeFileSync(join(dir, 'hip-latency.svg'), svg);
console.log(`wrote ${join(dir, 'hip-latency.svg')}`);
