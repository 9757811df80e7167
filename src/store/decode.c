/* Dependency-free C99 decoder for .nnc containers (formats 1 and 2). Mirrors src/store/container.cpp. */
#include "decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t* p;
  size_t n, pos;
  int bad;
  int version;
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
/* An unsigned field: fixed-width little endian in format 1, LEB128 varint from format 2 on. */
static uint64_t get_num(rd* r, int v1_bytes) {
  uint64_t v = 0;
  int shift;
  if (r->version < 2) return get_le(r, v1_bytes);
  for (shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!need(r, 1)) return 0;
    b = r->p[r->pos++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  r->bad = 1;
  return 0;
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

/* ---- raw DEFLATE (RFC 1951), for the graph section of format 2 ---- */
typedef struct {
  const uint8_t* in;
  size_t n, pos;
  uint32_t bitbuf;
  int bitcnt, bad;
  uint8_t* out;
  size_t outlen, outpos;
} inf_state;

typedef struct {
  short count[16];
  short symbol[288];
} inf_huff;

static int inf_bits(inf_state* s, int need) {
  uint32_t v = s->bitbuf;
  while (s->bitcnt < need) {
    if (s->pos >= s->n) {
      s->bad = 1;
      return 0;
    }
    v |= (uint32_t)s->in[s->pos++] << s->bitcnt;
    s->bitcnt += 8;
  }
  s->bitbuf = v >> need;
  s->bitcnt -= need;
  return (int)(v & ((1u << need) - 1u));
}

/* Canonical code from code lengths; < 0 over-subscribed, > 0 incomplete. */
static int inf_build(inf_huff* h, const short* length, int n) {
  short offs[16];
  int sym, len, left = 1;
  for (len = 0; len < 16; ++len) h->count[len] = 0;
  for (sym = 0; sym < n; ++sym) h->count[length[sym]]++;
  if (h->count[0] == n) return 0;
  for (len = 1; len < 16; ++len) {
    left = (left << 1) - h->count[len];
    if (left < 0) return -1;
  }
  offs[1] = 0;
  for (len = 1; len < 15; ++len) offs[len + 1] = (short)(offs[len] + h->count[len]);
  for (sym = 0; sym < n; ++sym)
    if (length[sym]) h->symbol[offs[length[sym]]++] = (short)sym;
  return left;
}

static int inf_decode(inf_state* s, const inf_huff* h) {
  int code = 0, first = 0, index = 0, len;
  for (len = 1; len < 16; ++len) {
    code |= inf_bits(s, 1);
    if (s->bad) return -1;
    if (code - h->count[len] < first) return h->symbol[index + (code - first)];
    index += h->count[len];
    first = (first + h->count[len]) << 1;
    code <<= 1;
  }
  return -1;
}

static int inf_codes(inf_state* s, const inf_huff* lc, const inf_huff* dc) {
  static const short lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                  31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static const short dbase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                  193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
  static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
  for (;;) {
    int sym = inf_decode(s, lc);
    if (sym < 0) return -1;
    if (sym < 256) {
      if (s->outpos >= s->outlen) return -1;
      s->out[s->outpos++] = (uint8_t)sym;
    } else if (sym == 256) {
      return 0;
    } else {
      size_t len, dist;
      sym -= 257;
      if (sym >= 29) return -1;
      len = (size_t)lbase[sym] + (size_t)inf_bits(s, lext[sym]);
      sym = inf_decode(s, dc);
      if (sym < 0 || sym >= 30) return -1;
      dist = (size_t)dbase[sym] + (size_t)inf_bits(s, dext[sym]);
      if (s->bad || dist > s->outpos || len > s->outlen - s->outpos) return -1;
      for (; len; --len, ++s->outpos) s->out[s->outpos] = s->out[s->outpos - dist];
    }
  }
}

static int inf_stored(inf_state* s) {
  size_t len, nlen;
  s->bitbuf = 0;
  s->bitcnt = 0;
  if (s->n - s->pos < 4) return -1;
  len = (size_t)s->in[s->pos] | ((size_t)s->in[s->pos + 1] << 8);
  nlen = (size_t)s->in[s->pos + 2] | ((size_t)s->in[s->pos + 3] << 8);
  s->pos += 4;
  if (len != (~nlen & 0xffffu) || len > s->n - s->pos || len > s->outlen - s->outpos) return -1;
  memcpy(s->out + s->outpos, s->in + s->pos, len);
  s->pos += len;
  s->outpos += len;
  return 0;
}

static int inf_fixed(inf_state* s) {
  inf_huff lc, dc;
  short len[288];
  int sym;
  for (sym = 0; sym < 144; ++sym) len[sym] = 8;
  for (; sym < 256; ++sym) len[sym] = 9;
  for (; sym < 280; ++sym) len[sym] = 7;
  for (; sym < 288; ++sym) len[sym] = 8;
  inf_build(&lc, len, 288);
  for (sym = 0; sym < 30; ++sym) len[sym] = 5;
  inf_build(&dc, len, 30);
  return inf_codes(s, &lc, &dc);
}

static int inf_dynamic(inf_state* s) {
  static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  short len[320];
  inf_huff lc, dc;
  int nlen, ndist, ncode, index, sym;
  nlen = inf_bits(s, 5) + 257;
  ndist = inf_bits(s, 5) + 1;
  ncode = inf_bits(s, 4) + 4;
  if (s->bad || nlen > 286 || ndist > 30) return -1;
  for (index = 0; index < ncode; ++index) len[order[index]] = (short)inf_bits(s, 3);
  for (; index < 19; ++index) len[order[index]] = 0;
  if (s->bad || inf_build(&lc, len, 19) != 0) return -1;
  for (index = 0; index < nlen + ndist;) {
    sym = inf_decode(s, &lc);
    if (sym < 0) return -1;
    if (sym < 16) {
      len[index++] = (short)sym;
    } else {
      short l = 0;
      int rep;
      if (sym == 16) {
        if (index == 0) return -1;
        l = len[index - 1];
        rep = 3 + inf_bits(s, 2);
      } else if (sym == 17) {
        rep = 3 + inf_bits(s, 3);
      } else {
        rep = 11 + inf_bits(s, 7);
      }
      if (s->bad || index + rep > nlen + ndist) return -1;
      while (rep--) len[index++] = l;
    }
  }
  if (len[256] == 0 || inf_build(&lc, len, nlen) < 0 || inf_build(&dc, len + nlen, ndist) < 0) return -1;
  return inf_codes(s, &lc, &dc);
}

static int inflate_raw(const uint8_t* in, size_t n, uint8_t* out, size_t outlen) {
  inf_state s;
  int last, type, rc;
  memset(&s, 0, sizeof s);
  s.in = in;
  s.n = n;
  s.out = out;
  s.outlen = outlen;
  do {
    last = inf_bits(&s, 1);
    type = inf_bits(&s, 2);
    if (s.bad) return -1;
    rc = type == 0 ? inf_stored(&s) : type == 1 ? inf_fixed(&s) : type == 2 ? inf_dynamic(&s) : -1;
    if (rc != 0 || s.bad) return -1;
  } while (!last);
  return s.outpos == outlen ? 0 : -1;
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
  uint64_t id = get_num(r, 4);
  int coder = (int)get_le(r, 1);
  uint64_t alphabet = get_num(r, 4);
  uint64_t nbytes = get_num(r, 8);
  const uint8_t* data;
  if (r->bad || id >= ncb || alphabet != cbs[id].size) return -1;
  data = get_bytes(r, (size_t)nbytes);
  if (!data) return -1;
  *cb_id = (uint32_t)id;
  if (coder == 0) return unpack_bits(data, (size_t)nbytes, count, (uint32_t)alphabet, out);
  if (coder == 1) return huffman(data, (size_t)nbytes, count, (uint32_t)alphabet, out);
  if (coder == 2) return rans(data, (size_t)nbytes, count, (uint32_t)alphabet, out);
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
  free(m->graph_buffer);
  m->tensors = NULL;
  m->graph_buffer = NULL;
  m->count = 0;
}

int nnc_decode(const uint8_t* buf, size_t size, nnc_model* out, char* err, size_t err_size) {
  rd r;
  uint32_t stored;
  uint64_t sections, s;
  int version;
  codebook cbs[64];
  size_t ncb = 0, cap = 0, i;
  int rc = 0;
  memset(out, 0, sizeof(*out));
  if (size < 16 || memcmp(buf, "NNC\0", 4) != 0) return fail_msg(err, err_size, "not an .nnc container (bad magic)");
  version = buf[4] | (buf[5] << 8);
  if (version > 2) return fail_msg(err, err_size, "container format version is newer than this decoder");
  stored = (uint32_t)buf[size - 4] | ((uint32_t)buf[size - 3] << 8) | ((uint32_t)buf[size - 2] << 16) |
           ((uint32_t)buf[size - 1] << 24);
  if (nnc_crc32(buf, size - 4) != stored) return fail_msg(err, err_size, "checksum mismatch");
  r.p = buf;
  r.n = size - 4;
  r.pos = 8;
  r.bad = 0;
  r.version = version;
  sections = get_num(&r, 4);
  for (s = 0; s < sections && !rc; ++s) {
    int type = (int)get_le(&r, 1);
    uint64_t len = get_num(&r, 8);
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
    p.version = version;
    if (type == 1) {
      out->graph = payload;
      out->graph_size = (size_t)len;
    } else if (type == 4 && version >= 2) {
      uint64_t size = get_num(&p, 8);
      if (p.bad || size > ((uint64_t)1 << 31) || out->graph_buffer) {
        rc = fail_msg(err, err_size, "bad graph section");
        break;
      }
      out->graph_buffer = (uint8_t*)malloc(size ? (size_t)size : 1);
      if (!out->graph_buffer || inflate_raw(payload + p.pos, p.n - p.pos, out->graph_buffer, (size_t)size) != 0) {
        rc = fail_msg(err, err_size, "corrupt graph section");
        break;
      }
      out->graph = out->graph_buffer;
      out->graph_size = (size_t)size;
    } else if (type == 2) {
      uint64_t n = get_num(&p, 4);
      const uint8_t* v = n <= 65536 ? get_bytes(&p, (size_t)n * 4) : NULL;
      if (!v || ncb >= 64) {
        rc = fail_msg(err, err_size, "bad codebook section");
        break;
      }
      cbs[ncb].size = (uint32_t)n;
      cbs[ncb].values = (float*)malloc(sizeof(float) * (n ? n : 1));
      memcpy(cbs[ncb].values, v, (size_t)n * 4);
      ++ncb;
    } else if (type == 3) {
      nnc_tensor t;
      uint64_t name_len = get_num(&p, 2), rank;
      const uint8_t* name = name_len < 65536 ? get_bytes(&p, (size_t)name_len) : NULL;
      int kind, k;
      memset(&t, 0, sizeof(t));
      rank = get_num(&p, 1);
      t.rank = (int)rank;
      if (!name || rank > 16) {
        rc = fail_msg(err, err_size, "bad tensor record");
        break;
      }
      t.numel = 1;
      for (k = 0; k < t.rank; ++k) {
        uint64_t d = get_num(&p, 8);
        if (d > ((uint64_t)1 << 40)) p.bad = 1;
        t.dims[k] = (int64_t)d;
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
        uint64_t nnz = get_num(&p, 8), j;
        int fmt = (int)get_le(&p, 1);
        uint64_t pos_len = get_num(&p, 8);
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
