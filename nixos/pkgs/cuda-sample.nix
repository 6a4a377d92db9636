# cairn-cuda-sample (cuda-sample/cairn_cuda_sample.cu): cudaMemcpy plus a small kernel on every
# GPU, non-zero on any failure; run by cairn-gpu-check after the agent attested the GPUs.
#
# NOT BUILT HERE: these machines cannot fetch nixpkgs (nor CUDA, which is unfree) and have no
# GPU; this file is evaluated only with the stub package set (tests/nix/test_gpu_module.py).
# Build it with nixpkgs' cudaPackages on a machine that allows the unfree CUDA toolkit.
{
  lib,
  cudaPackages,
  autoAddDriverRunpath,
}:
cudaPackages.backendStdenv.mkDerivation {
  pname = "cairn-cuda-sample";
  version = "0.1.0";
  src = ./cuda-sample;

  # autoAddDriverRunpath: libcuda.so comes from the booted driver (/run/opengl-driver/lib).
  nativeBuildInputs = [
    cudaPackages.cuda_nvcc
    autoAddDriverRunpath
  ];
  buildInputs = [ cudaPackages.cuda_cudart ];

  buildPhase = ''
    runHook preBuild
    nvcc -O2 -std=c++17 -o cairn-cuda-sample cairn_cuda_sample.cu
    runHook postBuild
  '';
  installPhase = ''
    runHook preInstall
    install -Dm755 cairn-cuda-sample $out/bin/cairn-cuda-sample
    runHook postInstall
  '';

  meta = {
    description = "Cairn's CUDA check: cudaMemcpy and a small kernel on every GPU";
    license = lib.licenses.asl20;
    platforms = [ "x86_64-linux" ];
    mainProgram = "cairn-cuda-sample";
  };
}
