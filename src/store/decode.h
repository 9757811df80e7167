/* Dependency-free C99 decoder for nncompress .nnc containers (format: docs/nnc-format.md).
 * Decodes every stored tensor (float32, or int8 for quantised weights) and returns the ONNX graph
 * bytes (inflated when the container stores them deflated). */
#ifndef NNC_DECODE_H
#define NNC_DECODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char* name;
  int rank;
  int64_t dims[16];
  size_t numel;
  float* data; /* float32 tensors (elem_type 1); NULL for int8 ones */
  int elem_type;   /* ONNX TensorProto data type: 1 = float32 (in data), 3 = int8 (in data_i8) */
  int8_t* data_i8; /* int8 tensors (format 5); NULL for float32 ones */
} nnc_tensor;

typedef struct {
  const uint8_t* graph; /* into the input buffer, or into graph_buffer when it was deflated */
  size_t graph_size;
  uint8_t* graph_buffer; /* owned; freed by nnc_free */
  nnc_tensor* tensors;
  size_t count;
} nnc_model;

/* Decodes the container buf[0..size) into *out. Returns 0 on success; on failure a non-zero
 * code, a one-line message in err (truncated to err_size) and *out empty. The file is checked as
 * the C++ reader checks it (docs/nnc-format.md, "What a reader accepts"): every size against the
 * bytes present or the format's limits before anything is allocated, allocation failures are
 * errors. On success out->graph points into buf unless the graph was deflated; free *out with
 * nnc_free. */
int nnc_decode(const uint8_t* buf, size_t size, nnc_model* out, char* err, size_t err_size);
void nnc_free(nnc_model* model);
uint32_t nnc_crc32(const uint8_t* data, size_t size);

#ifdef __cplusplus
}
#endif

#endif
