// The `hipcode help` text.
export const HELP = `hipcode — run Hugging Face causal LMs (Llama, Mistral, Qwen2, Qwen3) with the HiPCode engine

Usage:
  hipcode logits   --model DIR --ids 1,2,3 [--backend cpu|cuda|auto]
  hipcode generate --model DIR (--prompt TEXT | --chat TEXT | --ids 1,2,3) [--system TEXT]
                   [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P]
                   [--repetition-penalty R] [--seed S] [--backend cpu|cuda|auto] [--json]
  hipcode tokenize --model DIR (--text TEXT | --chat-json FILE)
  hipcode inspect  --model DIR [--json]
  hipcode bench    [--geometry qwen2.5-7b|llama3.1-8b|qwen2.5-0.5b|tiny|qwen2.5-7b-1m] [--prefill N]
                   [--context N] [--decode-steps N] [--repeats N] [--seed S] [--backend cpu|cuda|auto]
                   [--gpu-kv-budget SIZE] [--host-kv-budget SIZE] [--kv-dtype auto|f32|bf16|fp8-e4m3]
                   [--attention dense|hip|auto] [--fidelity-steps N] [--question N] [--edit N]
                   [--snapshot-dir DIR] [--out FILE.json]
  hipcode models   [--dir FOLDER]... [--json]
  hipcode context  --model DIR --workspace DIR [--workspace DIR]... [--max-tokens N] [--max-file-size SIZE]
                   [--include GLOB]... [--exclude GLOB]... [--json]
  hipcode ask      --model DIR --workspace DIR [--workspace DIR]... [--max-tokens N] [--max-context-tokens N]
                   [--max-file-size SIZE] [--include GLOB]... [--exclude GLOB]... [--temperature T] [--seed S]
                   [--backend cpu|cuda|auto] [--json] "QUESTION"
  hipcode serve    --model DIR [--workspace DIR]... [--port N] [--token T] [--max-tokens N]
                   [--max-context-tokens N] [--max-queue N] [--max-request-size SIZE] [--include GLOB]...
                   [--exclude GLOB]... [--max-file-size SIZE] [--backend cpu|cuda|auto]
  hipcode help

Commands:
  logits    print {"logits": [[...], ...]}: one float32 row of vocab_size logits per input id
  generate  stream the generated text to stdout; with --json print only {"ids": [...]}
            --prompt encodes TEXT with special tokens; --chat renders a one-message chat with the template
  tokenize  print {"ids": [...]}; --chat-json FILE is a JSON list of {"role", "content"} rendered with the
            chat template and the generation prompt
  inspect   print the parsed config, the memory the model needs and the backends found
  models    list the models in the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)
            and in each --dir folder, each validated: usable, or why not
  bench     time prefill (--prefill tokens, default 4096) and decode (--decode-steps, default 64, after
            --context tokens, default 8192) of a model of a named geometry with random weights made on
            the backend (default qwen2.5-7b); prints a table, --out also writes JSON; with --attention
            hip|auto or --kv-dtype, --fidelity-steps N also loads a copy of the model with dense attention
            and the backend's own KV rows and compares N decode steps' logits after the context (rel L2,
            greedy top-1 agreement); --question N times an ask's
            first token (N tokens prefilled in a fork of the context and a token after them); --edit N
            times prefilling the context's last N tokens again and a token after them (an edit near the end
            of the context);
            --snapshot-dir DIR saves the context as a snapshot there, loads it into a fresh session, times
            both and the first token after the load, and deletes the file; --kv-dtype keeps the KV cache's
            rows as f32 (CPU only), bf16 or fp8-e4m3 (8 bits a value and an f32 scale a row)
  context   scan the workspace (honouring .gitignore files and default excludes: VCS, dependency and build
            folders, lockfiles, minified, generated, binary and non-UTF-8 files, files over --max-file-size,
            default 1M) and print every included file with its tokens and every excluded file with its
            reason; files go in oldest-modified first, then by path, while they fit the budget (--max-tokens,
            default and at most the model's max_position_embeddings); globs are gitignore-style; only the
            tokenizer is loaded
  ask       answer QUESTION from the workspace context (built as by 'context'; its budget is the model's context
            less the prompt, the question and --max-tokens, default 512, capped by --max-context-tokens):
            progress and excluded files on stderr, the answer streamed to stdout, then every path:line
            reference checked against the files the model saw (✓, or ✗ with the problem) and the timings;
            --json prints one {answer, references, usage, timings, context} object instead
  serve     an OpenAI-compatible server on 127.0.0.1 only (--port, default 8356; 0 picks a free one; the
            URL is printed on stderr): GET /v1/models, POST /v1/chat/completions with and without
            "stream": true; one generation at a time, up to --max-queue (default 8) requests wait, more get
            429; --token T (or HIPCODE_SERVE_TOKEN) requires "Authorization: Bearer T"; --max-tokens is
            the completion length of a request without max_tokens (default 512, at most a quarter of the
            context); --workspace reads the workspace once (as 'context' does, budgeted to the context
            less the prompt, the conversation and --max-tokens) and puts it before the first user message;
            SIGINT or SIGTERM cancels what runs and exits 0

Common options:
  --backend cpu|cuda|auto   compute backend (default auto: CUDA when a usable GPU is found, else CPU)
  --threads N               CPU worker threads (default: all)
  --device N                CUDA device ordinal (default 0)
  --gpu-kv-budget SIZE      GPU memory for the KV cache, e.g. 16G (default: what the weights leave free,
                            less 3 GiB for activations)
  --host-kv-budget SIZE     pinned host memory for KV pages beyond the GPU budget, e.g. 48G; 0 = none
                            (default: up to half the available host memory, only when the context needs it)
  --attention dense|hip|auto
                            attention of decode steps and prefill chunks (default dense): hip = HiP sparse
                            attention (InfiniteHiP: sink 256, window 1024, ~2K keys selected per layer by a
                            3-stage chunk search; decode re-runs its stages every 16 / 8 / 4 steps, prefill
                            runs it per 64-query block, dense for the last block of every 32768 positions and
                            for the one whose logits are read, but sparse throughout in a prompt of fewer than
                            128 tokens) whenever keys lie outside the sink and the
                            window; auto = HiP above 65536 keys of context, where it pays off, else dense. HiP
                            knobs: the environment variable HIPCODE_HIP, a JSON object such as
                            {"thresholdTokens": 4096, "sinkTokens": 64, "windowTokens": 256,
                            "prefillChunkTokens": 32768, "refreshIntervals": [16, 8, 4], "denseLayers": 0,
                            "stages": [{"chunkSize": 64, "keepTokens": 1024}, ...]}

Sampling (generate): --temperature 0 (default) is greedy; --top-p 1, --top-k 0, --min-p 0 and
--repetition-penalty 1 disable those filters; --seed 0 by default; --max-tokens 256 by default.

Exit codes: 0 success, 1 error, 2 usage error.
`;
