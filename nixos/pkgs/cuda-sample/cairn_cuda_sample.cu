// cairn-cuda-sample: does every visible GPU compute correctly? (blueprint 7.7)
//
// On each CUDA device: copy a buffer host -> device (cudaMemcpy), run a small kernel
// (y[i] = a * x[i] + y[i]), copy the result back and compare every element with the same
// computation on the CPU (exact: small integers in float). Exit status: 0 all devices passed,
// 1 a CUDA call failed or a result differs, 2 usage or no CUDA device.
//
// Run by scripts/guest/cairn-gpu-check after the Cairn agent attested the GPUs (in CC mode a
// GPU accepts CUDA work only once its "ready" state is set). NEVER COMPILED OR RUN HERE: the
// development machines have neither nvcc nor a GPU.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

__global__ void saxpy(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

bool ok(cudaError_t status, const char* what, int device) {
  if (status == cudaSuccess) return true;
  std::fprintf(stderr, "cairn-cuda-sample: GPU %d: %s failed: %s\n", device, what,
               cudaGetErrorString(status));
  return false;
}

// One device: false (with a message on stderr) on any failure or wrong element.
bool check_device(int device, int n) {
  const float a = 3.0f;
  std::vector<float> x(n), y(n), result(n);
  for (int i = 0; i < n; ++i) {
    x[i] = static_cast<float>(i % 1024);
    y[i] = static_cast<float>((i * 7) % 1024);
  }
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  float* dx = nullptr;
  float* dy = nullptr;
  bool passed = ok(cudaSetDevice(device), "cudaSetDevice", device) &&
                ok(cudaMalloc(&dx, bytes), "cudaMalloc(x)", device) &&
                ok(cudaMalloc(&dy, bytes), "cudaMalloc(y)", device) &&
                ok(cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy(x)", device) &&
                ok(cudaMemcpy(dy, y.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy(y)", device);
  if (passed) {
    saxpy<<<(n + 255) / 256, 256>>>(n, a, dx, dy);
    passed = ok(cudaGetLastError(), "the kernel launch", device) &&
             ok(cudaDeviceSynchronize(), "the kernel", device) &&
             ok(cudaMemcpy(result.data(), dy, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(result)",
                device);
  }
  if (dx != nullptr) cudaFree(dx);
  if (dy != nullptr) cudaFree(dy);
  if (!passed) return false;
  for (int i = 0; i < n; ++i) {
    const float expected = a * x[i] + y[i];
    if (result[i] != expected) {
      std::fprintf(stderr, "cairn-cuda-sample: GPU %d: element %d is %g, expected %g\n", device, i,
                   result[i], expected);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1 << 20;
  if (argc == 3 && std::string_view(argv[1]) == "--elements") {
    n = std::atoi(argv[2]);
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: cairn-cuda-sample [--elements N]\n");
    return 2;
  }
  if (n < 1 || n > (1 << 28)) {
    std::fprintf(stderr, "cairn-cuda-sample: --elements must be 1..%d\n", 1 << 28);
    return 2;
  }
  int devices = 0;
  if (!ok(cudaGetDeviceCount(&devices), "cudaGetDeviceCount", -1)) return 1;
  if (devices == 0) {
    std::fprintf(stderr, "cairn-cuda-sample: no CUDA device\n");
    return 2;
  }
  int failed = 0;
  for (int device = 0; device < devices; ++device) {
    if (check_device(device, n)) {
      std::printf("cairn-cuda-sample: GPU %d: %d elements copied, computed and checked\n", device, n);
    } else {
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}
