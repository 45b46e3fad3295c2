// The memory side of hipcode/status: the process, the KV session and the GPU (from the addon's probe).
import type { BackendProbe } from '../native';
import type { StatusResult } from '../protocol';

/**
 * The GPU entry of the status from a probe: undefined when the device is not listed or its memory unknown (the
 * probe reports 0 free bytes when the driver could not say).
 */
export function gpuStatus(probe: BackendProbe, device: number): StatusResult['gpu'] {
  const info = probe.cuda.devices.find((d) => d.index === device);
  if (!info || !(info.totalMemory > 0) || !(info.freeMemory > 0)) return undefined;
  return {
    device,
    name: info.name,
    usedBytes: info.totalMemory - info.freeMemory,
    totalBytes: info.totalMemory,
  };
}

export function memoryStatus(): StatusResult['memory'] {
  const { rss, heapUsed } = process.memoryUsage();
  return { rssBytes: rss, heapUsedBytes: heapUsed };
}
