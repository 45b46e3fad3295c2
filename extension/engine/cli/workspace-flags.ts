// The workspace flags of ask, context and serve (--workspace, --include, --exclude, --max-file-size) and the
// context they describe.
import type { TextTokenizer } from '../text/tokenizer';
import { buildContext, DEFAULT_MAX_FILE_BYTES, type WorkspaceContext } from '../workspace';
import { listFlag, sizeFlag, type Options, type Values } from './args';

export const WORKSPACE_OPTIONS: Options = {
  workspace: { type: 'string', multiple: true },
  'max-file-size': { type: 'string' },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
};

/** Scans, tokenizes and budgets the --workspace roots as the flags say. */
export function flagsContext(
  values: Values,
  roots: string[],
  budget: number,
  tokenizer: TextTokenizer,
): Promise<WorkspaceContext> {
  return buildContext({
    roots,
    include: listFlag(values, 'include'),
    exclude: listFlag(values, 'exclude'),
    maxFileBytes:
      values['max-file-size'] === undefined ? DEFAULT_MAX_FILE_BYTES : sizeFlag(values, 'max-file-size'),
    budget,
    tokenize: (text) => tokenizer.encode(text, { addSpecialTokens: false }),
  });
}
