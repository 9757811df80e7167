/* Dependency-free C99 decoder for .nnc containers. Mirrors src/store/container.cpp. */
#include "decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t* p;
  size_t n, pos;
  int bad;
} rd;

static int need(rd* r, size_t k) {
  if (r->bad || k > r->n - r->pos) {
    r->bad = 1;
    return 0;
  }
  return 1;
}
static uint64_t get_le(rd* r, int bytes) {
  uint64_t v = 0;
  int i;
  if (!need(r, (size_t)bytes)) return 0;
  for (i = 0; i < bytes; ++i) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)bytes;
  return v;
}
static const uint8_t* get_bytes(rd* r, size_t k) {
  const uint8_t* s;
  if (!need(r, k)) return NULL;
  s = r->p + r->pos;
  r->pos += k;
  return s;
}

uint32_t nnc_crc32(const uint8_t* data, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  size_t i;
  int k;
  for (i = 0; i < size; ++i) {
    crc ^= data[i];
    for (k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

/* ---- index coders ---- */
static int bits_for(uint32_t alphabet) {
  int w = 1;
  while (w < 16 && (1u << w) < alphabet) ++w;
  return w;
}

static int unpack_bits(const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t* out) {
  int w = bits_for(alphabet), k;
  uint64_t bit = 0;
  size_t i;
  if ((count * (size_t)w + 7) / 8 > nb) return -1;
  for (i = 0; i < count; ++i) {
    uint32_t v = 0;
    for (k = 0; k < w; ++k, ++bit) v |= (uint32_t)((b[bit >> 3] >> (bit & 7)) & 1u) << k;
    if (v >= alphabet) return -1;
    out[i] = (uint16_t)v;
  }
  return 0;
}

static int huffman(const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t* out) {
  size_t table = ((size_t)alphabet * 5 + 7) / 8, bit, i, s;
  uint32_t count_len[25];
  uint16_t* sorted;
  uint8_t* len;
  int l, nsorted = 0;
  if (table > nb) return -1;
  len = (uint8_t*)malloc(alphabet ? alphabet : 1);
  sorted = (uint16_t*)malloc(sizeof(uint16_t) * (alphabet ? alphabet : 1));
  if (!len || !sorted) {
    free(len);
    free(sorted);
    return -1;
  }
  memset(count_len, 0, sizeof(count_len));
  for (s = 0; s < alphabet; ++s) {
    uint8_t v = 0;
    for (l = 0; l < 5; ++l) {
      size_t q = s * 5 + (size_t)l;
      v |= (uint8_t)(((b[q >> 3] >> (q & 7)) & 1u) << l);
    }
    if (v > 24) goto fail;
    len[s] = v;
    if (v) ++count_len[v];
  }
  for (l = 1; l <= 24; ++l)
    for (s = 0; s < alphabet; ++s)
      if (len[s] == l) sorted[nsorted++] = (uint16_t)s;
  bit = table * 8;
  for (i = 0; i < count; ++i) {
    uint32_t code = 0, first = 0, index = 0;
    for (l = 1;; ++l) {
      if (l > 24 || bit >= nb * 8) goto fail;
      code = (code << 1) | ((b[bit >> 3] >> (7 - (bit & 7))) & 1u);
      ++bit;
      if (code - first < count_len[l]) {
        out[i] = sorted[index + (code - first)];
        break;
      }
      index += count_len[l];
      first = (first + count_len[l]) << 1;
    }
  }
  free(len);
  free(sorted);
  return 0;
fail:
  free(len);
  free(sorted);
  return -1;
}

static int rans(const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t* out) {
  const uint32_t L = 1u << 23;
  size_t pos = 0, i;
  uint32_t* cum;
  uint32_t s, x = 0, M;
  int scale, k;
  if (nb < 1) return -1;
  scale = b[pos++];
  if (scale < 1 || scale > 22) return -1;
  M = 1u << scale;
  cum = (uint32_t*)malloc(sizeof(uint32_t) * ((size_t)alphabet + 1));
  if (!cum) return -1;
  cum[0] = 0;
  for (s = 0; s < alphabet; ++s) {
    uint32_t v = 0;
    int shift;
    for (shift = 0;; shift += 7) {
      if (pos >= nb || shift > 28) goto fail;
      v |= (uint32_t)(b[pos] & 0x7f) << shift;
      if (!(b[pos++] & 0x80)) break;
    }
    cum[s + 1] = cum[s] + v;
  }
  if (count && cum[alphabet] != M) goto fail;
  if (pos + 4 > nb) goto fail;
  for (k = 0; k < 4; ++k) x |= (uint32_t)b[pos++] << (8 * k);
  for (i = 0; i < count; ++i) {
    uint32_t slot = x & (M - 1), lo = 0, hi = alphabet;
    /* binary search: the symbol whose [cum[s], cum[s+1]) holds slot */
    while (hi - lo > 1) {
      uint32_t mid = (lo + hi) / 2;
      if (cum[mid] <= slot) lo = mid;
      else hi = mid;
    }
    out[i] = (uint16_t)lo;
    x = (cum[lo + 1] - cum[lo]) * (x >> scale) + slot - cum[lo];
    while (x < L) {
      if (pos >= nb) goto fail;
      x = (x << 8) | b[pos++];
    }
  }
  free(cum);
  return 0;
fail:
  free(cum);
  return -1;
}

typedef struct {
  float* values;
  uint32_t size;
} codebook;

static int read_indices(rd* r, size_t count, const codebook* cbs, size_t ncb, uint16_t* out, uint32_t* cb_id) {
  uint32_t id = (uint32_t)get_le(r, 4);
  int coder = (int)get_le(r, 1);
  uint32_t alphabet = (uint32_t)get_le(r, 4);
  uint64_t nbytes = get_le(r, 8);
  const uint8_t* data;
  if (r->bad || id >= ncb || alphabet != cbs[id].size) return -1;
  data = get_bytes(r, (size_t)nbytes);
  if (!data) return -1;
  *cb_id = id;
  if (coder == 0) return unpack_bits(data, (size_t)nbytes, count, alphabet, out);
  if (coder == 1) return huffman(data, (size_t)nbytes, count, alphabet, out);
  if (coder == 2) return rans(data, (size_t)nbytes, count, alphabet, out);
  return -1;
}

static int fail_msg(char* err, size_t n, const char* msg) {
  if (err && n) snprintf(err, n, "%s", msg);
  return 1;
}

void nnc_free(nnc_model* m) {
  size_t i;
  if (!m) return;
  for (i = 0; i < m->count; ++i) {
    free(m->tensors[i].name);
    free(m->tensors[i].data);
  }
  free(m->tensors);
  m->tensors = NULL;
  m->count = 0;
}

int nnc_decode(const uint8_t* buf, size_t size, nnc_model* out, char* err, size_t err_size) {
  rd r;
  uint32_t sections, s, stored;
  codebook cbs[64];
  size_t ncb = 0, cap = 0, i;
  int rc = 0;
  memset(out, 0, sizeof(*out));
  if (size < 16 || memcmp(buf, "NNC\0", 4) != 0) return fail_msg(err, err_size, "not an .nnc container (bad magic)");
  if ((buf[4] | (buf[5] << 8)) > 1) return fail_msg(err, err_size, "container format version is newer than this decoder");
  stored = (uint32_t)buf[size - 4] | ((uint32_t)buf[size - 3] << 8) | ((uint32_t)buf[size - 2] << 16) |
           ((uint32_t)buf[size - 1] << 24);
  if (nnc_crc32(buf, size - 4) != stored) return fail_msg(err, err_size, "checksum mismatch");
  r.p = buf;
  r.n = size - 4;
  r.pos = 8;
  r.bad = 0;
  sections = (uint32_t)get_le(&r, 4);
  for (s = 0; s < sections && !rc; ++s) {
    int type = (int)get_le(&r, 1);
    uint64_t len = get_le(&r, 8);
    const uint8_t* payload = get_bytes(&r, (size_t)len);
    rd p;
    if (!payload) {
      rc = fail_msg(err, err_size, "truncated section");
      break;
    }
    p.p = payload;
    p.n = (size_t)len;
    p.pos = 0;
    p.bad = 0;
    if (type == 1) {
      out->graph = payload;
      out->graph_size = (size_t)len;
    } else if (type == 2) {
      uint32_t n = (uint32_t)get_le(&p, 4);
      const uint8_t* v = get_bytes(&p, (size_t)n * 4);
      if (!v || ncb >= 64) {
        rc = fail_msg(err, err_size, "bad codebook section");
        break;
      }
      cbs[ncb].size = n;
      cbs[ncb].values = (float*)malloc(sizeof(float) * (n ? n : 1));
      memcpy(cbs[ncb].values, v, (size_t)n * 4);
      ++ncb;
    } else if (type == 3) {
      nnc_tensor t;
      uint16_t name_len = (uint16_t)get_le(&p, 2);
      const uint8_t* name = get_bytes(&p, name_len);
      int kind, k;
      memset(&t, 0, sizeof(t));
      t.rank = (int)get_le(&p, 1);
      if (!name || t.rank > 16) {
        rc = fail_msg(err, err_size, "bad tensor record");
        break;
      }
      t.numel = 1;
      for (k = 0; k < t.rank; ++k) {
        t.dims[k] = (int64_t)get_le(&p, 8);
        t.numel *= (size_t)t.dims[k];
      }
      kind = (int)get_le(&p, 1);
      t.name = (char*)malloc((size_t)name_len + 1);
      memcpy(t.name, name, name_len);
      t.name[name_len] = 0;
      t.data = (float*)calloc(t.numel ? t.numel : 1, sizeof(float));
      if (kind == 0) {
        const uint8_t* v = get_bytes(&p, t.numel * 4);
        if (v) memcpy(t.data, v, t.numel * 4);
        else rc = fail_msg(err, err_size, "truncated raw tensor");
      } else if (kind == 1) {
        uint16_t* idx = (uint16_t*)malloc(sizeof(uint16_t) * (t.numel ? t.numel : 1));
        uint32_t id = 0;
        if (read_indices(&p, t.numel, cbs, ncb, idx, &id) != 0) rc = fail_msg(err, err_size, "corrupt index stream");
        else
          for (i = 0; i < t.numel; ++i) t.data[i] = cbs[id].values[idx[i]];
        free(idx);
      } else if (kind == 2) {
        uint64_t nnz = get_le(&p, 8), j;
        int fmt = (int)get_le(&p, 1);
        uint64_t pos_len = get_le(&p, 8);
        const uint8_t* pos = get_bytes(&p, (size_t)pos_len);
        uint64_t* positions = (uint64_t*)malloc(sizeof(uint64_t) * (size_t)(nnz ? nnz : 1));
        size_t got = 0, q = 0;
        if (!pos || nnz > t.numel) rc = fail_msg(err, err_size, "bad sparse record");
        if (!rc && fmt == 0) {
          for (j = 0; j < t.numel && got < nnz; ++j)
            if ((pos[j >> 3] >> (j & 7)) & 1) positions[got++] = j;
        } else if (!rc) {
          uint64_t at = 0;
          for (j = 0; j < nnz && !rc; ++j) {
            uint64_t v = 0;
            int shift;
            for (shift = 0;; shift += 7) {
              if (q >= pos_len || shift > 63) {
                rc = fail_msg(err, err_size, "corrupt sparse positions");
                break;
              }
              v |= (uint64_t)(pos[q] & 0x7f) << shift;
              if (!(pos[q++] & 0x80)) break;
            }
            at += v + (j ? 1 : 0);
            positions[got++] = at;
          }
        }
        if (!rc && (got != nnz || (nnz && positions[nnz - 1] >= t.numel))) rc = fail_msg(err, err_size, "corrupt sparse positions");
        if (!rc) {
          int indexed = (int)get_le(&p, 1);
          if (indexed) {
            uint16_t* idx = (uint16_t*)malloc(sizeof(uint16_t) * (size_t)(nnz ? nnz : 1));
            uint32_t id = 0;
            if (read_indices(&p, (size_t)nnz, cbs, ncb, idx, &id) != 0) rc = fail_msg(err, err_size, "corrupt index stream");
            else
              for (j = 0; j < nnz; ++j) t.data[positions[j]] = cbs[id].values[idx[j]];
            free(idx);
          } else {
            const uint8_t* v = get_bytes(&p, (size_t)nnz * 4);
            if (!v) rc = fail_msg(err, err_size, "truncated sparse values");
            else
              for (j = 0; j < nnz; ++j) memcpy(&t.data[positions[j]], v + j * 4, 4);
          }
        }
        free(positions);
      } else {
        rc = fail_msg(err, err_size, "unknown tensor kind");
      }
      if (p.bad && !rc) rc = fail_msg(err, err_size, "truncated tensor record");
      if (out->count == cap) {
        cap = cap ? cap * 2 : 16;
        out->tensors = (nnc_tensor*)realloc(out->tensors, sizeof(nnc_tensor) * cap);
      }
      out->tensors[out->count++] = t;
    } else {
      rc = fail_msg(err, err_size, "unknown section type");
    }
  }
  if (!rc && r.bad) rc = fail_msg(err, err_size, "truncated container");
  for (i = 0; i < ncb; ++i) free(cbs[i].values);
  if (rc) nnc_free(out);
  return rc;
}
