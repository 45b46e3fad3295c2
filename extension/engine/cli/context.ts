// `hipcode context`: scans a workspace and prints the context report (included files with tokens, excluded with why).
import { resolve } from 'node:path';
import { checkModelDir } from '../model/load';
import { readModelConfig } from '../model/config';
import { loadTokenizer } from '../text/tokenizer';
import type { WorkspaceContext } from '../workspace';
import { intFlag, listFlag, parseFlags, requireString, usage } from './args';
import { writeJson, writeOut } from './output';
import { flagsContext, WORKSPACE_OPTIONS } from './workspace-flags';

const OPTIONS = {
  model: { type: 'string' },
  ...WORKSPACE_OPTIONS,
  'max-tokens': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** What `hipcode context --json` prints. */
export interface ContextReport {
  roots: string[];
  modelContext: number;
  budget: number;
  included: { path: string; language: string; bytes: number; tokens: number }[];
  excluded: { path: string; kind: string; code: string; reason: string }[];
  totals: { files: number; tokens: number; budget: number; excluded: number };
}

function toReport(context: WorkspaceContext, modelContext: number): ContextReport {
  return {
    roots: context.roots,
    modelContext,
    budget: context.budget,
    included: context.included.map(({ path, language, bytes, tokens }) => ({
      path,
      language,
      bytes,
      tokens,
    })),
    excluded: context.excluded.map(({ path, kind, code, reason }) => ({ path, kind, code, reason })),
    totals: {
      files: context.included.length,
      tokens: context.tokens,
      budget: context.budget,
      excluded: context.excluded.length,
    },
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map(
      (row) =>
        `  ${row.map((cell, column) => (column < row.length - 1 ? cell.padEnd(widths[column]) : cell)).join('  ')}`,
    )
    .join('\n');
}

/** The report as text: included files in context order, excluded files and folders, totals. */
export function formatReport(report: ContextReport): string {
  const lines = [`Workspace: ${report.roots.join(', ')}`, ''];
  lines.push(`Included (${plural(report.totals.files, 'file')}, in context order):`);
  const included = report.included.map((f) => [String(f.tokens).padStart(8), f.language, f.path]);
  lines.push(included.length > 0 ? table([['  TOKENS', 'LANGUAGE', 'PATH'], ...included]) : '  (none)', '');
  lines.push(`Excluded (${report.totals.excluded}):`);
  const excluded = report.excluded.map((e) => [e.kind === 'folder' ? `${e.path}/` : e.path, e.reason]);
  lines.push(excluded.length > 0 ? table([['PATH', 'REASON'], ...excluded]) : '  (none)', '');
  lines.push(
    `Total: ${plural(report.totals.files, 'file')}, ${plural(report.totals.tokens, 'token')} of a ${report.budget}-token budget ` +
      `(model context ${report.modelContext}); ${report.totals.excluded} excluded`,
  );
  return `${lines.join('\n')}\n`;
}

export async function contextCommand(args: string[]): Promise<void> {
  const values = parseFlags('context', args, OPTIONS);
  const dir = resolve(requireString(values, 'model'));
  const roots = listFlag(values, 'workspace');
  if (roots.length === 0) throw usage('--workspace is required and takes a folder');
  checkModelDir(dir);
  const config = readModelConfig(dir);
  const modelContext = config.maxPositionEmbeddings;
  const budget = Math.min(intFlag(values, 'max-tokens', modelContext, 1), modelContext);
  const tokenizer = loadTokenizer(dir, config.eosTokenIds);
  const context = await flagsContext(values, roots, budget, tokenizer);
  const report = toReport(context, modelContext);
  await (values.json === true ? writeJson(report) : writeOut(formatReport(report)));
}
