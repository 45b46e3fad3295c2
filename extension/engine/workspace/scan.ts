// Workspace scan: walks the roots, applies .gitignore, default and user excludes, and reads the text files.
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { HipError } from '../errors';
import {
  BINARY_SNIFF_BYTES,
  DEFAULT_MAX_FILE_BYTES,
  defaultFileReason,
  defaultFolderReason,
  generatedMarker,
  minifiedLineLength,
} from './defaults';
import { rootLabels } from './roots';
import { gitignoreSource, GlobSet, parseGitignore, type GitignoreLayer } from './rules';
import type {
  ExcludeCode,
  ExcludedEntry,
  PathScanResult,
  ScanOptions,
  ScanResult,
  WorkspaceFile,
} from './types';

interface Root {
  abs: string;
  real: string;
  /** Prefix of display paths ('' for a single root). */
  label: string;
}

/** A folder (or a symlink, before it is resolved) met during the walk. */
interface Place {
  root: Root;
  /** Path relative to the root, posix ('' for the root). */
  rel: string;
  abs: string;
  layers: readonly GitignoreLayer[];
}

type Verdict = [ExcludeCode, string] | undefined;

/** File reads between two turns of the event loop, so a cancel request is seen quickly. */
const YIELD_EVERY = 128;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Runs at most `n` tasks at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active < n) active++;
    else await new Promise<void>((resolveSlot) => waiting.push(resolveSlot));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

function describeError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'unreadable: dangling symlink or vanished (ENOENT)';
  if (e.code === 'ELOOP') return 'unreadable: symlink loop (ELOOP)';
  if (e.code === 'EACCES' || e.code === 'EPERM') return `unreadable: permission denied (${e.code})`;
  return `unreadable: ${e.code ?? e.message}`;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function specialKind(entry: Dirent | Stats): string {
  if (entry.isFIFO()) return 'FIFO';
  if (entry.isSocket()) return 'socket';
  if (entry.isBlockDevice() || entry.isCharacterDevice()) return 'device';
  return 'special file';
}

function childRel(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** Checks the content of a file: binary, encoding, minified, generated. Returns the text or the verdict. */
export function classifyContent(data: Uint8Array): string | [ExcludeCode, string] {
  if (data.subarray(0, BINARY_SNIFF_BYTES).includes(0))
    return ['binary', 'binary (NUL byte in the first 8 KiB)'];
  let text: string;
  try {
    text = UTF8.decode(data);
  } catch {
    return ['encoding', 'not UTF-8 text'];
  }
  return textVerdict(text) ?? text;
}

function textVerdict(text: string): [ExcludeCode, string] | undefined {
  const mean = minifiedLineLength(text);
  if (mean !== undefined) return ['minified', `minified (mean line length ${mean} chars)`];
  const marker = generatedMarker(text);
  if (marker !== undefined) return ['generated', `generated (marker '${marker}' in the first lines)`];
  return undefined;
}

class Scanner {
  readonly files: WorkspaceFile[] = [];
  readonly excluded: ExcludedEntry[] = [];
  private readonly visitedDirs = new Set<string>();
  /** Real path of every file met → its display path, so a symlinked file is read once. */
  private readonly realFiles = new Map<string, string>();
  private readonly symlinks: Place[] = [];
  private reads = 0;
  private readonly include: GlobSet;
  private readonly exclude: GlobSet;
  private readonly maxBytes: number;
  private readonly limit: <T>(task: () => Promise<T>) => Promise<T>;

  constructor(
    private readonly roots: readonly Root[],
    private readonly options: ScanOptions,
  ) {
    this.include = new GlobSet(options.include ?? []);
    this.exclude = new GlobSet(options.exclude ?? []);
    this.maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.limit = limiter(options.concurrency ?? 32);
  }

  async run(): Promise<void> {
    for (const root of this.roots) {
      if (this.visitedDirs.has(root.real)) continue;
      this.visitedDirs.add(root.real);
      await this.walk({ root, rel: '', abs: root.abs, layers: [] }, root.real);
    }
    await this.followSymlinks();
    this.files.sort(byPath);
    this.excluded.sort(byPath);
  }

  private display(root: Root, rel: string): string {
    if (root.label === '') return rel === '' ? '.' : rel;
    return rel === '' ? root.label : `${root.label}/${rel}`;
  }

  private exclude_(place: Place, kind: 'file' | 'folder', [code, reason]: [ExcludeCode, string]): void {
    this.excluded.push({ path: this.display(place.root, place.rel), kind, code, reason });
  }

  /** Rules that depend on the path only (no I/O). */
  private pathVerdict(place: Place, isDir: boolean): Verdict {
    const name = basename(place.abs);
    if (this.options.defaultExcludes !== false) {
      const reason = isDir ? defaultFolderReason(name) : defaultFileReason(name);
      if (reason !== undefined) return ['default', `default exclude: ${reason}`];
    }
    const gitignore = gitignoreSource(place.layers, place.rel, isDir);
    if (gitignore !== undefined) return ['gitignore', `ignored by ${gitignore}`];
    const pattern = this.exclude.match(place.rel, isDir);
    if (pattern !== undefined) return ['user-exclude', `matches exclude glob '${pattern}'`];
    if (!isDir && !this.include.empty && this.include.match(place.rel, false) === undefined)
      return ['not-included', 'matches no include glob'];
    return undefined;
  }

  private async walk(dir: Place, real: string): Promise<void> {
    this.options.signal?.throwIfAborted();
    let entries: Dirent[];
    try {
      entries = await this.limit(() => readdir(dir.abs, { withFileTypes: true }));
    } catch (error) {
      return this.exclude_(dir, 'folder', ['unreadable', describeError(error)]);
    }
    const layers = await this.gitignoreLayers(dir, entries);
    const tasks: Promise<void>[] = [];
    for (const entry of entries) {
      const place: Place = {
        root: dir.root,
        rel: childRel(dir.rel, entry.name),
        abs: join(dir.abs, entry.name),
        layers,
      };
      const task = this.visit(place, entry, join(real, entry.name));
      if (task) tasks.push(task);
    }
    await Promise.all(tasks);
  }

  private visit(place: Place, entry: Dirent, real: string): Promise<void> | undefined {
    if (entry.isSymbolicLink()) {
      this.symlinks.push(place);
      return undefined;
    }
    const isDir = entry.isDirectory();
    if (!isDir && !entry.isFile()) {
      this.exclude_(place, 'file', ['special', `not a regular file (${specialKind(entry)})`]);
      return undefined;
    }
    const verdict = this.pathVerdict(place, isDir);
    if (verdict) {
      this.exclude_(place, isDir ? 'folder' : 'file', verdict);
      return undefined;
    }
    if (isDir) {
      if (this.visitedDirs.has(real)) return undefined;
      this.visitedDirs.add(real);
      return this.walk(place, real);
    }
    this.realFiles.set(real, this.display(place.root, place.rel));
    return this.readFile(place);
  }

  private async gitignoreLayers(dir: Place, entries: Dirent[]): Promise<readonly GitignoreLayer[]> {
    if (this.options.gitignore === false) return dir.layers;
    const entry = entries.find((e) => e.name === '.gitignore' && e.isFile());
    if (!entry) return dir.layers;
    return this.withGitignore(dir);
  }

  /** dir's layers plus its .gitignore (an unreadable one is reported and skipped). */
  private async withGitignore(dir: Place): Promise<readonly GitignoreLayer[]> {
    const source = this.display(dir.root, childRel(dir.rel, '.gitignore'));
    try {
      const text = await this.limit(() => readFile(join(dir.abs, '.gitignore'), 'utf8'));
      return [...dir.layers, parseGitignore(dir.rel, source, text)];
    } catch (error) {
      this.excluded.push({ path: source, kind: 'file', code: 'unreadable', reason: describeError(error) });
      return dir.layers;
    }
  }

  /** Reads one file (the target, for a symlink) and keeps it or records why not. */
  private async readFile(place: Place): Promise<void> {
    if (++this.reads % YIELD_EVERY === 0) await new Promise((next) => setImmediate(next));
    this.options.signal?.throwIfAborted();
    const verdict = this.load(place);
    if (verdict) this.exclude_(place, 'file', verdict);
  }

  /** Small files are read synchronously (4x faster than fs/promises); the walk yields every YIELD_EVERY reads. */
  private load(place: Place): Verdict {
    let info: Stats;
    let data: Uint8Array;
    const buffer = this.options.buffers?.get(place.abs);
    try {
      info = statSync(place.abs);
      if (!info.isFile()) return ['special', `not a regular file (${specialKind(info)})`];
      const size = buffer === undefined ? info.size : Buffer.byteLength(buffer);
      if (size > this.maxBytes)
        return ['size', `over the size cap: ${formatBytes(size)} > ${formatBytes(this.maxBytes)}`];
      if (buffer !== undefined) return this.keep(place, buffer, Date.now());
      data = readFileSync(place.abs);
    } catch (error) {
      return ['unreadable', describeError(error)];
    }
    const content = classifyContent(data);
    if (typeof content !== 'string') return content;
    return this.keep(place, content, info.mtimeMs, data.length);
  }

  private keep(place: Place, text: string, mtimeMs: number, bytes?: number): Verdict {
    if (bytes === undefined) {
      const verdict = textVerdict(text);
      if (verdict) return verdict;
    }
    this.files.push({
      path: this.display(place.root, place.rel),
      absPath: place.abs,
      text,
      bytes: bytes ?? Buffer.byteLength(text),
      mtimeMs,
    });
    return undefined;
  }

  /** The layers of `dir` when it has a .gitignore file (no folder listing at hand). */
  private async gitignoreLayersAt(dir: Place): Promise<readonly GitignoreLayer[]> {
    if (this.options.gitignore === false) return dir.layers;
    const info = await lstat(join(dir.abs, '.gitignore')).catch(() => undefined);
    return info?.isFile() ? this.withGitignore(dir) : dir.layers;
  }

  /**
   * Scans the one file at `rel` under `root` as the walk would have met it: its folders' excludes and .gitignore
   * files first. False when a full scan is needed instead (a folder, a symlink or the root itself).
   */
  async scanPath(root: Root, rel: string): Promise<boolean> {
    const names = rel.split('/');
    let dir: Place = { root, rel: '', abs: root.abs, layers: [] };
    dir.layers = await this.gitignoreLayersAt(dir);
    for (const name of names.slice(0, -1)) {
      const place: Place = { ...dir, rel: childRel(dir.rel, name), abs: join(dir.abs, name) };
      const info = await lstat(place.abs).catch(() => undefined);
      if (info === undefined) return true;
      if (info.isSymbolicLink()) return false;
      if (!info.isDirectory() || this.pathVerdict(place, true)) return true;
      dir = { ...place, layers: await this.gitignoreLayersAt(place) };
    }
    const file: Place = { ...dir, rel, abs: join(dir.abs, names[names.length - 1]) };
    const info = await lstat(file.abs).catch(() => undefined);
    if (info === undefined) return true;
    if (info.isSymbolicLink() || info.isDirectory()) return false;
    if (!info.isFile()) {
      this.exclude_(file, 'file', ['special', `not a regular file (${specialKind(info)})`]);
      return true;
    }
    const verdict = this.pathVerdict(file, false);
    if (verdict) this.exclude_(file, 'file', verdict);
    else await this.readFile(file);
    return true;
  }

  /** Display path and root of an absolute path inside one of the roots (the first that holds it). */
  locate(abs: string): { root: Root; rel: string; path: string } | undefined {
    for (const root of this.roots) {
      const rel = relative(root.abs, abs);
      if (rel === '' || rel.startsWith('..') || resolve(root.abs, rel) !== abs) continue;
      const posix = rel.split(sep).join('/');
      return { root, rel: posix, path: this.display(root, posix) };
    }
    return undefined;
  }

  /** Symlinks are resolved after the plain tree, one at a time in path order, so the result is deterministic. */
  private async followSymlinks(): Promise<void> {
    while (this.symlinks.length > 0) {
      this.symlinks.sort((a, b) =>
        byPath({ path: this.display(a.root, a.rel) }, { path: this.display(b.root, b.rel) }),
      );
      const link = this.symlinks.shift() as Place;
      await this.followSymlink(link);
    }
  }

  private insideRoots(real: string): boolean {
    return this.roots.some((root) => real === root.real || real.startsWith(root.real + sep));
  }

  private async followSymlink(link: Place): Promise<void> {
    let info: Stats;
    let real: string;
    try {
      info = await stat(link.abs);
      real = await realpath(link.abs);
    } catch (error) {
      return this.exclude_(link, 'file', ['unreadable', describeError(error)]);
    }
    if (info.isDirectory()) return this.followDirLink(link, real);
    if (!info.isFile())
      return this.exclude_(link, 'file', ['special', `not a regular file (${specialKind(info)})`]);
    const verdict = this.pathVerdict(link, false);
    if (verdict) return this.exclude_(link, 'file', verdict);
    const seen = this.realFiles.get(real);
    if (seen !== undefined)
      return this.exclude_(link, 'file', ['symlink', `symlink to ${seen}, which is read once there`]);
    if (!this.insideRoots(real))
      return this.exclude_(link, 'file', ['symlink', `symlink to a file outside the workspace (${real})`]);
    this.realFiles.set(real, this.display(link.root, link.rel));
    await this.readFile(link);
  }

  private async followDirLink(link: Place, real: string): Promise<void> {
    const verdict = this.pathVerdict(link, true);
    if (verdict) return this.exclude_(link, 'folder', verdict);
    if (!this.insideRoots(real))
      return this.exclude_(link, 'folder', [
        'symlink',
        `symlink to a folder outside the workspace (${real})`,
      ]);
    if (this.visitedDirs.has(real))
      return this.exclude_(link, 'folder', [
        'symlink',
        'symlink loop or folder already scanned (not followed)',
      ]);
    this.visitedDirs.add(real);
    await this.walk(link, real);
  }
}

function isDirectory(abs: string): boolean {
  try {
    return statSync(abs).isDirectory();
  } catch {
    throw new HipError('E_WORKSPACE', `workspace folder ${abs} does not exist; pass an existing folder`);
  }
}

function openRoots(paths: readonly string[]): Root[] {
  if (paths.length === 0)
    throw new HipError('E_WORKSPACE', 'no workspace folder given; pass at least one folder');
  const labels = rootLabels(paths);
  return paths.map((path, index) => {
    const abs = resolve(path);
    if (!isDirectory(abs))
      throw new HipError('E_WORKSPACE', `${abs} is not a folder; pass the workspace folder`);
    return { abs, real: realpathSync(abs), label: labels[index] };
  });
}

/**
 * Scans the workspace roots. Every file or folder left out is listed in `excluded` with its reason; unreadable
 * entries are reported, never thrown. Throws E_WORKSPACE for a missing root and E_CANCELLED when aborted.
 */
export async function scanWorkspace(options: ScanOptions): Promise<ScanResult> {
  const roots = openRoots(options.roots);
  const scanner = new Scanner(roots, options);
  try {
    await scanner.run();
  } catch (error) {
    if (options.signal?.aborted) throw new HipError('E_CANCELLED', 'the workspace scan was cancelled');
    throw error;
  }
  return { roots: roots.map((root) => root.abs), files: scanner.files, excluded: scanner.excluded };
}

/**
 * Scans only `paths` (absolute files created, modified or deleted), with the rules of a full scan of the same
 * options. Paths outside the roots are ignored; a path that needs a full scan (a folder, a symlink, a root, a
 * .gitignore) makes `rescan` true and the rest of the result is then incomplete.
 */
export async function scanPaths(options: ScanOptions, paths: readonly string[]): Promise<PathScanResult> {
  const scanner = new Scanner(openRoots(options.roots), options);
  const result: PathScanResult = {
    files: scanner.files,
    excluded: scanner.excluded,
    paths: [],
    rescan: false,
  };
  for (const path of paths) {
    const abs = resolve(path);
    const place = scanner.locate(abs);
    if (place === undefined) continue;
    result.paths.push(place.path);
    if (basename(abs) === '.gitignore' || !(await scanner.scanPath(place.root, place.rel))) {
      return { ...result, rescan: true };
    }
  }
  return result;
}
