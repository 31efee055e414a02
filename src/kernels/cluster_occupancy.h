#pragma once
// resident_clusters: how many thread-block clusters of a kernel a device runs at once, asked of the runtime once per
// kernel, device and cluster size (GPU models differ in SMs per cluster-capable GPC) and cached in the caller's
// ResidentClusters. In relaxed capture mode (kernels/relaxed_capture.h): a kernel's first cluster launch may be inside
// a graph capture. For .cu files.
#include <cuda_runtime.h>

#include <atomic>

#include "kernels/relaxed_capture.h"

namespace patchlm::kernels {

inline cudaLaunchAttribute cluster_attribute(int cluster) {
  cudaLaunchAttribute a = {};
  a.id = cudaLaunchAttributeClusterDimension;
  a.val.clusterDim.x = static_cast<unsigned>(cluster);
  a.val.clusterDim.y = a.val.clusterDim.z = 1;
  return a;
}

// One kernel's record: per device index below kDevices and cluster size up to MaxCluster, the count + 1; 0: not asked
// yet. Devices past kDevices ask on every call.
template <int MaxCluster>
struct ResidentClusters {
  static constexpr int kDevices = 16;
  std::atomic<int> known[kDevices][MaxCluster + 1] = {};
};

// How many clusters of `cluster` CTAs of `kernel` the current device runs at once; 0 if the runtime cannot say.
template <class Kernel, int MaxCluster>
int resident_clusters(Kernel kernel, int cluster, int threads, int shared_bytes, cudaStream_t stream,
                      ResidentClusters<MaxCluster>& record) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) (void)cudaGetLastError();
  std::atomic<int>* slot = device >= 0 && device < record.kDevices ? &record.known[device][cluster] : nullptr;
  if (slot != nullptr)
    if (const int known = slot->load(std::memory_order_relaxed); known > 0) return known - 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(cluster));
  config.blockDim = dim3(static_cast<unsigned>(threads));
  config.dynamicSmemBytes = static_cast<std::size_t>(shared_bytes);
  config.stream = stream;
  cudaLaunchAttribute a = cluster_attribute(cluster);
  config.attrs = &a;
  config.numAttrs = 1;
  int count = 0;
  const RelaxedCapture relaxed;
  if (cudaOccupancyMaxActiveClusters(&count, kernel, &config) != cudaSuccess) {
    (void)cudaGetLastError();  // not the launch's error
    count = 0;
  }
  if (slot != nullptr) slot->store(count + 1, std::memory_order_relaxed);
  return count;
}

}  // namespace patchlm::kernels
