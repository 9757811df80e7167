#pragma once
// Runs BLAS calls on the calling thread.
//
// LibTorch parallelises its own kernels with OpenMP, whose threads spin for a while after each
// parallel region; OpenBLAS (Debian's libopenblas0-pthread) keeps a second thread pool for its
// GEMMs. On two cores the two pools fight: a 256x500x10 Gemm took 2.7 ms with OpenBLAS's pool and
// 0.09 ms on one thread, and one training epoch of LeNet-300 / LeNet-5 took 5.5-7.8 / 19-20 s
// with it and 3.9-4.2 / 13.3-13.9 s without (bench/RESULTS.md). Inference Gemms run on oneDNN
// (OpenMP) anyway; this is for the matrix products of training.
namespace nnc {

// Sets OpenBLAS to one thread once per process (found at run time; other BLAS libraries are left
// alone). NNC_BLAS_THREADS=N in the environment sets N threads instead (anything but a positive
// integer throws Error naming the variable). Returns the thread count
// set, or 0 when no OpenBLAS is loaded.
int single_threaded_blas();

}  // namespace nnc
