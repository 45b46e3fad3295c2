// The GPU entry of hipcode/status from the addon's probe (a CUDA machine is not needed to check the mapping).
import assert from 'node:assert/strict';
import type { BackendProbe, CudaDeviceInfo } from '../../extension/engine/native';
import { gpuStatus } from '../../extension/engine/server/status';

function probe(devices: CudaDeviceInfo[]): BackendProbe {
  return { cpu: { threads: 2 }, cuda: { compiled: true, available: true, devices } };
}

const GiB = 1024 ** 3;
const h100 = (index: number, free: number): CudaDeviceInfo => ({
  index,
  name: 'NVIDIA H100 80GB HBM3',
  computeCapability: '9.0',
  totalMemory: 80 * GiB,
  freeMemory: free,
});

describe('status: GPU memory', () => {
  it('reports the model device: used = total - free', () => {
    const gpu = gpuStatus(probe([h100(0, 70 * GiB), h100(1, 20 * GiB)]), 1);
    assert.deepEqual(gpu, {
      device: 1,
      name: 'NVIDIA H100 80GB HBM3',
      usedBytes: 60 * GiB,
      totalBytes: 80 * GiB,
    });
  });

  it('is absent when the device is not listed or the driver could not say how much is free', () => {
    assert.equal(gpuStatus(probe([h100(0, 70 * GiB)]), 1), undefined);
    assert.equal(gpuStatus(probe([h100(0, 0)]), 0), undefined);
    assert.equal(gpuStatus(probe([]), 0), undefined);
  });
});
