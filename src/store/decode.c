/* Dependency-free C99 decoder for .nnc containers (formats 1 to 5, docs/nnc-format.md).
 * Mirrors src/store/container.cpp: both readers accept exactly the same files and decode them to
 * the same values (tests/store/hostile_input_test.cpp; the differential fuzzer in tests/fuzz/).
 * Every declared size is checked against the bytes present, or against the limits below, before
 * anything is allocated. */
#include "decode.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits, the same in container.cpp (docs/nnc-format.md, "What a reader accepts"). A fuzzing
 * build lowers the element limit so that a few bytes of rANS or of an empty sparse tensor cannot
 * ask for gigabytes. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define MAX_ELEMENTS ((uint64_t)1 << 22)
#else
#define MAX_ELEMENTS ((uint64_t)1 << 31)
#endif
#define MAX_GRAPH_BYTES ((uint64_t)1 << 31)
#define MAX_DEFLATE_RATIO 1032u /* RFC 1951 at best: one 258-byte match per two bits */
#define MAX_ALPHABET 65536u
#define MAX_NAME 65535u
#define MAX_RANK 16
#define MAX_CODE_LENGTH 24

/* A bounded little-endian reader. The first failed read sets `bad` (why) and every later read
 * returns 0 / NULL, so a record can be read in one go and checked once before its values are used. */
typedef struct {
  const uint8_t* p;
  size_t n, pos;
  int version;
  const char* bad;
} rd;

static const char kTruncated[] = "truncated";

static rd reader(const uint8_t* p, size_t n, int version) {
  rd r;
  r.p = p;
  r.n = n;
  r.pos = 0;
  r.version = version;
  r.bad = NULL;
  return r;
}
static uint64_t left(const rd* r) { return (uint64_t)(r->n - r->pos); }
static int need(rd* r, uint64_t k) {
  if (r->bad) return 0;
  if (k > left(r)) {
    r->bad = kTruncated;
    return 0;
  }
  return 1;
}
static uint64_t get_le(rd* r, int bytes) {
  uint64_t v = 0;
  int i;
  if (!need(r, (uint64_t)bytes)) return 0;
  for (i = 0; i < bytes; ++i) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)bytes;
  return v;
}
/* The one LEB128 reader (fields, rANS frequencies, sparse gaps): at most ten bytes, and the value
 * must fit in 64 bits. */
static uint64_t get_varint(rd* r) {
  uint64_t v = 0;
  int shift;
  for (shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!need(r, 1)) return 0;
    b = r->p[r->pos++];
    if (shift == 63 && b > 1) break;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  r->bad = "overlong number";
  return 0;
}
/* An unsigned field: fixed-width little endian in format 1, a varint from format 2 on. */
static uint64_t get_num(rd* r, int v1_bytes) { return r->version < 2 ? get_le(r, v1_bytes) : get_varint(r); }
static const uint8_t* get_bytes(rd* r, uint64_t k) {
  const uint8_t* s;
  if (!need(r, k)) return NULL;
  s = r->p + r->pos;
  r->pos += (size_t)k;
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
  int nlen, ndist, ncode, index, sym, err;
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
  if (len[256] == 0) return -1;
  /* Incomplete codes only as zlib allows them: a single code of length 1. */
  err = inf_build(&lc, len, nlen);
  if (err < 0 || (err > 0 && nlen != lc.count[0] + lc.count[1])) return -1;
  err = inf_build(&dc, len + nlen, ndist);
  if (err < 0 || (err > 0 && ndist != dc.count[0] + dc.count[1])) return -1;
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
  return s.outpos == outlen && s.pos == s.n ? 0 : -1; /* all of it, and nothing after it */
}

/* ---- index coders: each checks its stream against count before allocating *out, and decodes
 * count indices < alphabet; on failure it returns -1 with the problem in why ---- */
#define WHY_SIZE 160

static int why_fmt(char* why, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, WHY_SIZE, fmt, ap);
  va_end(ap);
  return -1;
}

static uint16_t* alloc_indices(size_t count) { return (uint16_t*)malloc(count ? count * sizeof(uint16_t) : 1); }

static int bits_for(uint32_t alphabet) {
  int w = 1;
  while (w < 16 && (1u << w) < alphabet) ++w;
  return w;
}

static int unpack_bits(const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t** out, char* why) {
  const int w = bits_for(alphabet);
  uint64_t bit = 0;
  size_t i;
  int k;
  if (((uint64_t)count * (uint64_t)w + 7) / 8 > nb) return why_fmt(why, "bit-packed stream is truncated");
  if (!(*out = alloc_indices(count))) return why_fmt(why, "out of memory");
  for (i = 0; i < count; ++i) {
    uint32_t v = 0;
    for (k = 0; k < w; ++k, ++bit) v |= (uint32_t)((b[bit >> 3] >> (bit & 7)) & 1u) << k;
    if (v >= alphabet) return why_fmt(why, "bit-packed index %u is outside an alphabet of %u", v, alphabet);
    (*out)[i] = (uint16_t)v;
  }
  return 0;
}

/* Canonical Huffman: a 5-bit length per symbol, then codes MSB first in (length, symbol) order. */
static int huffman(const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t** out, char* why) {
  const size_t table = ((size_t)alphabet * 5 + 7) / 8;
  uint32_t count_len[MAX_CODE_LENGTH + 1];
  uint64_t kraft = 0, bit;
  uint8_t* len = NULL;
  uint16_t* sorted = NULL;
  size_t s, i, nsorted = 0;
  int l, rc = -1;
  if (table > nb) return why_fmt(why, "Huffman table is truncated");
  len = (uint8_t*)malloc(alphabet ? alphabet : 1);
  sorted = (uint16_t*)malloc(sizeof(uint16_t) * (alphabet ? alphabet : 1));
  if (!len || !sorted) {
    why_fmt(why, "out of memory");
    goto done;
  }
  memset(count_len, 0, sizeof(count_len));
  for (s = 0; s < alphabet; ++s) {
    uint8_t v = 0;
    for (l = 0; l < 5; ++l) {
      const size_t q = s * 5 + (size_t)l;
      v |= (uint8_t)(((b[q >> 3] >> (q & 7)) & 1u) << l);
    }
    if (v > MAX_CODE_LENGTH) {
      why_fmt(why, "Huffman code length %d is invalid", v);
      goto done;
    }
    len[s] = v;
    if (v) {
      ++count_len[v];
      kraft += (uint64_t)1 << (MAX_CODE_LENGTH - v);
    }
  }
  if (kraft > (uint64_t)1 << MAX_CODE_LENGTH) {
    why_fmt(why, "Huffman code lengths are over-subscribed");
    goto done;
  }
  if ((uint64_t)count > (uint64_t)(nb - table) * 8) { /* every code takes at least one bit */
    why_fmt(why, "Huffman stream is truncated or corrupt");
    goto done;
  }
  for (l = 1; l <= MAX_CODE_LENGTH; ++l)
    for (s = 0; s < alphabet; ++s)
      if (len[s] == l) sorted[nsorted++] = (uint16_t)s;
  if (count && !nsorted) {
    why_fmt(why, "Huffman table has no symbols");
    goto done;
  }
  if (!(*out = alloc_indices(count))) {
    why_fmt(why, "out of memory");
    goto done;
  }
  bit = (uint64_t)table * 8;
  for (i = 0; i < count; ++i) {
    uint32_t code = 0, first = 0, index = 0;
    for (l = 1;; ++l) {
      if (l > MAX_CODE_LENGTH || bit >= (uint64_t)nb * 8) {
        why_fmt(why, "Huffman stream is truncated or corrupt");
        goto done;
      }
      code = (code << 1) | ((b[bit >> 3] >> (7 - (bit & 7))) & 1u);
      ++bit;
      if (code - first < count_len[l]) {
        (*out)[i] = sorted[index + (code - first)];
        break;
      }
      index += count_len[l];
      first = (first + count_len[l]) << 1;
    }
  }
  rc = 0;
done:
  free(len);
  free(sorted);
  return rc;
}

/* rANS: u8 scale s, a varint frequency per symbol summing to exactly 2^s, u32 state, then the
 * renormalisation bytes (32-bit state, byte-wise). */
static int rans(const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t** out, char* why) {
  const uint32_t L = 1u << 23;
  rd r = reader(b, nb, 2);
  uint32_t* cum;
  uint32_t s, x, M;
  uint64_t sum = 0;
  size_t i;
  int scale, rc = -1;
  if (nb < 1) return why_fmt(why, "rANS stream is empty");
  scale = (int)get_le(&r, 1);
  if (scale < 1 || scale > 22) return why_fmt(why, "rANS scale %d is invalid", scale);
  M = 1u << scale;
  cum = (uint32_t*)malloc(sizeof(uint32_t) * ((size_t)alphabet + 1));
  if (!cum) return why_fmt(why, "out of memory");
  cum[0] = 0;
  for (s = 0; s < alphabet; ++s) {
    const uint64_t f = get_varint(&r);
    if (r.bad) {
      why_fmt(why, r.bad == kTruncated ? "rANS table is truncated" : "rANS table has an overlong number");
      goto done;
    }
    if (f > M - sum) { /* also no sum can wrap */
      why_fmt(why, "rANS frequencies do not sum to 2^%d", scale);
      goto done;
    }
    sum += f;
    cum[s + 1] = (uint32_t)sum;
  }
  if (sum != M && !(count == 0 && sum == 0)) {
    why_fmt(why, "rANS frequencies do not sum to 2^%d", scale);
    goto done;
  }
  x = (uint32_t)get_le(&r, 4);
  if (r.bad || !(*out = alloc_indices(count))) {
    why_fmt(why, r.bad ? "rANS stream is truncated" : "out of memory");
    goto done;
  }
  for (i = 0; i < count; ++i) {
    uint32_t slot = x & (M - 1), lo = 0, hi = alphabet;
    /* binary search: the symbol whose [cum[s], cum[s+1]) holds slot */
    while (hi - lo > 1) {
      uint32_t mid = (lo + hi) / 2;
      if (cum[mid] <= slot) lo = mid;
      else hi = mid;
    }
    (*out)[i] = (uint16_t)lo;
    x = (cum[lo + 1] - cum[lo]) * (x >> scale) + slot - cum[lo];
    while (x < L) {
      x = (x << 8) | (uint32_t)get_le(&r, 1);
      if (r.bad) {
        why_fmt(why, "rANS stream is truncated");
        goto done;
      }
    }
  }
  rc = 0;
done:
  free(cum);
  return rc;
}

/* ---- the container ---- */
typedef struct {
  float* values;
  uint32_t size;
  int scaled; /* format 3: another codebook times a scale */
} codebook;

typedef struct {
  int version;
  int have_graph;
  int have_names; /* format 6: names holds the table of tensor names and shapes */
  rd names;       /* over the table, at the next named tensor record's entry */
  codebook* cbs;
  size_t ncb, cb_cap;
  uint64_t elements; /* in the tensors decoded so far, at most MAX_ELEMENTS */
  char* err;
  size_t err_size;
} dec;

static int fail(dec* d, const char* fmt, ...) {
  va_list ap;
  if (d->err && d->err_size) {
    va_start(ap, fmt);
    vsnprintf(d->err, d->err_size, fmt, ap);
    va_end(ap);
  }
  return 1;
}

/* The graph section (type 1 stored, 4 deflated, 6 deflated together with the names table). */
static int read_graph(dec* d, rd* p, int type, nnc_model* out) {
  uint64_t size, table = 0;
  if (d->have_graph) return fail(d, "more than one graph section");
  d->have_graph = 1;
  if (type == 1) {
    out->graph = p->p;
    out->graph_size = p->n;
    p->pos = p->n;
    return 0;
  }
  size = get_varint(p);
  if (type == 6) table = get_varint(p);
  if (p->bad) return fail(d, "graph section: %s", p->bad);
  if (size > MAX_GRAPH_BYTES || table > MAX_GRAPH_BYTES - size || size + table > left(p) * MAX_DEFLATE_RATIO)
    return fail(d, "graph section claims %" PRIu64 " bytes from %" PRIu64 " deflated bytes", size + table, left(p));
  out->graph_buffer = (uint8_t*)malloc(size + table ? (size_t)(size + table) : 1);
  if (!out->graph_buffer) return fail(d, "out of memory for the graph");
  if (inflate_raw(p->p + p->pos, (size_t)left(p), out->graph_buffer, (size_t)(size + table)) != 0)
    return fail(d, "graph section does not inflate to %" PRIu64 " bytes (corrupt)", size + table);
  p->pos = p->n;
  out->graph = out->graph_buffer;
  out->graph_size = (size_t)size;
  if (type == 6) {
    d->have_names = 1;
    d->names = reader(out->graph_buffer + size, (size_t)table, d->version);
  }
  return 0;
}

/* Room for codebook d->ncb with n values (the caller fills them and counts it); NULL on failure. */
static codebook* new_codebook(dec* d, uint32_t n) {
  codebook* cb;
  if (d->ncb == d->cb_cap) {
    const size_t cap = d->cb_cap ? d->cb_cap * 2 : 8;
    codebook* grown = (codebook*)realloc(d->cbs, sizeof(codebook) * cap);
    if (!grown) {
      fail(d, "out of memory for codebooks");
      return NULL;
    }
    d->cbs = grown;
    d->cb_cap = cap;
  }
  cb = &d->cbs[d->ncb];
  cb->size = n;
  cb->scaled = 0;
  cb->values = (float*)malloc(n ? (size_t)n * sizeof(float) : 1);
  if (!cb->values) {
    fail(d, "out of memory for codebooks");
    return NULL;
  }
  return cb;
}

static int read_codebook(dec* d, rd* p) {
  const uint64_t n = get_num(p, 4);
  const uint8_t* v;
  codebook* cb;
  if (p->bad) return fail(d, "codebook section: %s", p->bad);
  if (n > MAX_ALPHABET) return fail(d, "codebook of %" PRIu64 " values", n);
  v = get_bytes(p, n * 4);
  if (p->bad) return fail(d, "codebook section: %s", p->bad);
  if (left(p)) return fail(d, "codebook section has %" PRIu64 " trailing bytes", left(p));
  if (!(cb = new_codebook(d, (uint32_t)n))) return 1;
  if (n) memcpy(cb->values, v, (size_t)n * sizeof(float));
  ++d->ncb;
  return 0;
}

/* Format 3: a codebook that is an earlier plain codebook times a finite, non-zero scale. */
static int read_scaled_codebook(dec* d, rd* p) {
  const uint64_t base = get_num(p, 4);
  const uint8_t* v = get_bytes(p, 4);
  float scale;
  codebook* cb;
  uint32_t i;
  if (p->bad) return fail(d, "scaled codebook section: %s", p->bad);
  if (left(p)) return fail(d, "scaled codebook section has %" PRIu64 " trailing bytes", left(p));
  memcpy(&scale, v, 4);
  if (base >= d->ncb || d->cbs[base].scaled)
    return fail(d, "scaled codebook %u refers to codebook %" PRIu64 ", which is not an earlier unscaled one",
                (unsigned)d->ncb, base);
  if (!isfinite(scale) || scale == 0.0f) return fail(d, "scaled codebook %u has scale %g", (unsigned)d->ncb, (double)scale);
  /* Its values are made here: they count as elements, so that a few bytes cannot ask for gigabytes. */
  if (d->cbs[base].size > MAX_ELEMENTS - d->elements)
    return fail(d, "scaled codebook %u takes the container past %" PRIu64 " elements", (unsigned)d->ncb, MAX_ELEMENTS);
  d->elements += d->cbs[base].size;
  if (!(cb = new_codebook(d, d->cbs[base].size))) return 1;
  for (i = 0; i < cb->size; ++i) cb->values[i] = d->cbs[base].values[i] * scale;
  cb->scaled = 1;
  ++d->ncb;
  return 0;
}

/* The one element count: the product of the non-zero dimensions stays within MAX_ELEMENTS (so no
 * partial product can overflow, in any order), a zero dimension makes the count 0, and the
 * container's tensors together stay within MAX_ELEMENTS. */
static int element_count(dec* d, const char* name, const uint64_t* dims, int rank, size_t* numel) {
  uint64_t product = 1, n;
  int k, zero = 0;
  for (k = 0; k < rank; ++k) {
    if (dims[k] == 0) {
      zero = 1;
    } else {
      if (dims[k] > MAX_ELEMENTS / product)
        return fail(d, "tensor '%s' has more than %" PRIu64 " elements", name, MAX_ELEMENTS);
      product *= dims[k];
    }
  }
  n = zero ? 0 : product;
  if (n > MAX_ELEMENTS - d->elements)
    return fail(d, "tensor '%s' takes the container past %" PRIu64 " elements", name, MAX_ELEMENTS);
  if (n > SIZE_MAX / sizeof(float)) return fail(d, "tensor '%s' is too large for this machine", name);
  d->elements += n;
  *numel = (size_t)n;
  return 0;
}

/* count symbols below alphabet under index coder 0 (bit-packing), 1 (Huffman) or 2 (rANS). */
static int decode_symbols(int coder, const uint8_t* b, size_t nb, size_t count, uint32_t alphabet, uint16_t** out,
                          char* why) {
  if (coder == 0) return unpack_bits(b, nb, count, alphabet, out, why);
  if (coder == 1) return huffman(b, nb, count, alphabet, out, why);
  return rans(b, nb, count, alphabet, out, why);
}

/* Coded indices (tensor kind 1, sparse value kind 1): count indices into one codebook. */
static int read_indices(dec* d, rd* p, const char* name, size_t count, uint16_t** idx, const codebook** cb) {
  const uint64_t id = get_num(p, 4);
  const int coder = (int)get_le(p, 1);
  const uint64_t alphabet = get_num(p, 4);
  const uint64_t nbytes = get_num(p, 8);
  const uint8_t* data;
  char why[WHY_SIZE];
  int rc;
  if (p->bad) return fail(d, "tensor '%s' record: %s", name, p->bad);
  if (id >= d->ncb) return fail(d, "tensor '%s' refers to a missing codebook %" PRIu64, name, id);
  if (coder > 2) return fail(d, "tensor '%s' has unknown index coder %d", name, coder);
  if (alphabet != d->cbs[id].size)
    return fail(d, "tensor '%s' index alphabet %" PRIu64 " does not match codebook size %u", name, alphabet,
                d->cbs[id].size);
  data = get_bytes(p, nbytes);
  if (p->bad) return fail(d, "tensor '%s' record: %s", name, p->bad);
  *cb = &d->cbs[id];
  rc = decode_symbols(coder, data, (size_t)nbytes, count, (uint32_t)alphabet, idx, why);
  return rc ? fail(d, "tensor '%s' indices: %s", name, why) : 0;
}

/* int8 values (tensor kind 3, sparse value kind 2, format 5): u8 coder, varint alphabet (1..256),
 * varint byte count, count zigzag symbols (0, 1, 2, 3, ... = 0, -1, 1, -2, ...). */
static int read_int8(dec* d, rd* p, const char* name, size_t count, int8_t** out) {
  const int coder = (int)get_le(p, 1);
  const uint64_t alphabet = get_num(p, 4);
  const uint64_t nbytes = get_num(p, 8);
  const uint8_t* data = get_bytes(p, nbytes);
  uint16_t* symbols = NULL;
  char why[WHY_SIZE];
  size_t i;
  int rc;
  if (p->bad) return fail(d, "tensor '%s' record: %s", name, p->bad);
  if (coder > 2) return fail(d, "tensor '%s' has unknown int8 coder %d", name, coder);
  if (alphabet < 1 || alphabet > 256)
    return fail(d, "tensor '%s' has an int8 alphabet of %" PRIu64 " (1 to 256)", name, alphabet);
  rc = decode_symbols(coder, data, (size_t)nbytes, count, (uint32_t)alphabet, &symbols, why);
  if (rc) {
    free(symbols);
    return fail(d, "tensor '%s' int8 values: %s", name, why);
  }
  if (!(*out = (int8_t*)malloc(count ? count : 1))) {
    free(symbols);
    return fail(d, "out of memory for tensor '%s'", name);
  }
  for (i = 0; i < count; ++i) {
    const unsigned s = symbols[i];
    (*out)[i] = (int8_t)(s & 1 ? -(int)((s + 1) >> 1) : (int)(s >> 1));
  }
  free(symbols);
  return 0;
}

/* Coded gaps (position format 2, container format 4): u8 coder, varint class alphabet (1..127),
 * varint byte count, the nnz entropy-coded gap classes, then the extra bits LSB first. Class 0
 * is v = gap + 1 = 1; class c > 0 is v = 2^b | m 2^(b-1) | (b - 1 extra bits), b = (c + 1) / 2,
 * m = c + 1 - 2b. */
static int read_coded_gaps(dec* d, const uint8_t* pos, uint64_t len, const nnc_tensor* t, uint64_t nnz, uint64_t* at) {
  rd r = reader(pos, (size_t)len, 2);
  const int coder = (int)get_le(&r, 1);
  const uint64_t alphabet = get_varint(&r);
  const uint64_t nbytes = get_varint(&r);
  const uint8_t* data = get_bytes(&r, nbytes);
  const uint8_t* extra;
  uint64_t nextra, bit = 0, next = 0, j;
  uint16_t* classes = NULL;
  char why[WHY_SIZE];
  int rc;
  if (r.bad) return fail(d, "tensor '%s' record: %s", t->name, r.bad);
  if (coder > 2) return fail(d, "tensor '%s' has unknown position coder %d", t->name, coder);
  if (alphabet < 1 || alphabet > 127)
    return fail(d, "tensor '%s' has %" PRIu64 " gap classes (1 to 127)", t->name, alphabet);
  rc = decode_symbols(coder, data, (size_t)nbytes, (size_t)nnz, (uint32_t)alphabet, &classes, why);
  if (rc) {
    free(classes);
    return fail(d, "tensor '%s' positions: %s", t->name, why);
  }
  nextra = left(&r);
  extra = pos + r.pos;
  for (j = 0; j < nnz; ++j) {
    const unsigned c = classes[j];
    uint64_t v = 1;
    if (c > 0) {
      const int b = (int)((c + 1) / 2);
      int k;
      v = ((uint64_t)1 << b) | ((uint64_t)(c + 1 - 2u * (unsigned)b) << (b - 1));
      if (bit + (uint64_t)(b - 1) > 8 * nextra) {
        free(classes);
        return fail(d, "tensor '%s' positions are truncated", t->name);
      }
      for (k = 0; k < b - 1; ++k, ++bit) v |= (uint64_t)((extra[bit >> 3] >> (bit & 7)) & 1) << k;
    }
    if (v - 1 >= t->numel - next) {
      free(classes);
      return fail(d, "tensor '%s' non-zero %" PRIu64 " lies past its %zu elements", t->name, j, t->numel);
    }
    at[j] = next + v - 1;
    next = at[j] + 1;
  }
  free(classes);
  if (nextra != (bit + 7) / 8)
    return fail(d, "tensor '%s' positions have %" PRIu64 " trailing bytes", t->name, nextra - (bit + 7) / 8);
  return 0;
}

/* Sparse positions: a bitmask of exactly numel bits (whole bytes), varint gaps that use up
 * their bytes, or coded gaps (format 4); either way nnz positions, strictly increasing and < numel. */
static int read_positions(dec* d, rd* p, const nnc_tensor* t, uint64_t nnz, uint64_t** out) {
  const int format = (int)get_le(p, 1);
  const uint64_t len = get_num(p, 8);
  const uint8_t* pos = get_bytes(p, len);
  uint64_t* at;
  uint64_t j, got = 0;
  if (p->bad) return fail(d, "tensor '%s' record: %s", t->name, p->bad);
  if (format > 2 || (format == 2 && d->version < 4))
    return fail(d, "tensor '%s' has unknown position format %d", t->name, format);
  if (format == 0 && len != ((uint64_t)t->numel + 7) / 8)
    return fail(d, "tensor '%s' bitmask has %" PRIu64 " bytes for %zu elements", t->name, len, t->numel);
  if (format == 1 && nnz > len) /* every gap takes at least one byte */
    return fail(d, "tensor '%s' positions are truncated", t->name);
  *out = at = (uint64_t*)malloc(nnz ? (size_t)nnz * sizeof(uint64_t) : 1);
  if (!at) return fail(d, "out of memory for tensor '%s'", t->name);
  if (format == 2) return read_coded_gaps(d, pos, len, t, nnz, at);
  if (format == 0) {
    for (j = 0; j < t->numel; ++j)
      if ((pos[j >> 3] >> (j & 7)) & 1) {
        if (got < nnz) at[got] = j;
        ++got;
      }
    if (got != nnz)
      return fail(d, "tensor '%s' bitmask has %" PRIu64 " set bits for %" PRIu64 " non-zeros", t->name, got, nnz);
  } else {
    rd gaps = reader(pos, (size_t)len, 2);
    uint64_t next = 0; /* the smallest position the next gap can give */
    for (j = 0; j < nnz; ++j) {
      const uint64_t gap = get_varint(&gaps);
      if (gaps.bad) return fail(d, "tensor '%s' positions: %s", t->name, gaps.bad);
      if (gap >= t->numel - next)
        return fail(d, "tensor '%s' non-zero %" PRIu64 " lies past its %zu elements", t->name, j, t->numel);
      at[j] = next + gap;
      next = at[j] + 1;
    }
    if (left(&gaps)) return fail(d, "tensor '%s' positions have %" PRIu64 " trailing bytes", t->name, left(&gaps));
  }
  return 0;
}

static int read_sparse(dec* d, rd* p, nnc_tensor* t) {
  const uint64_t nnz = get_num(p, 8);
  uint64_t* positions = NULL;
  uint16_t* idx = NULL;
  int8_t* ints = NULL;
  const codebook* cb = NULL;
  const uint8_t* raw = NULL;
  int kind, rc = 1;
  uint64_t j;
  if (p->bad) return fail(d, "tensor '%s' record: %s", t->name, p->bad);
  if (nnz > t->numel) return fail(d, "tensor '%s' has more non-zeros than elements", t->name);
  if (read_positions(d, p, t, nnz, &positions)) goto done;
  kind = (int)get_le(p, 1);
  if (p->bad) {
    fail(d, "tensor '%s' record: %s", t->name, p->bad);
    goto done;
  }
  if (kind > 2 || (kind == 2 && d->version < 5)) {
    fail(d, "tensor '%s' has unknown sparse value kind %d", t->name, kind);
    goto done;
  }
  if (kind == 2) {
    if (read_int8(d, p, t->name, (size_t)nnz, &ints)) goto done;
    if (!(t->data_i8 = (int8_t*)calloc(t->numel ? t->numel : 1, 1))) {
      fail(d, "out of memory for tensor '%s'", t->name);
      goto done;
    }
    t->elem_type = 3;
    for (j = 0; j < nnz; ++j) t->data_i8[positions[j]] = ints[j];
    rc = 0;
    goto done;
  }
  if (kind == 1) {
    if (read_indices(d, p, t->name, (size_t)nnz, &idx, &cb)) goto done;
  } else if (!(raw = get_bytes(p, nnz * 4))) {
    fail(d, "tensor '%s' record: %s", t->name, p->bad);
    goto done;
  }
  if (!(t->data = (float*)calloc(t->numel ? t->numel : 1, sizeof(float)))) {
    fail(d, "out of memory for tensor '%s'", t->name);
    goto done;
  }
  for (j = 0; j < nnz; ++j) {
    if (kind == 1) t->data[positions[j]] = cb->values[idx[j]];
    else memcpy(&t->data[positions[j]], raw + j * 4, 4);
  }
  rc = 0;
done:
  free(positions);
  free(idx);
  free(ints);
  return rc;
}

/* A tensor's name and shape: at the start of its record (type 3), or the names table's next
 * entry (type 7, format 6). */
static int read_tensor(dec* d, rd* p, int type, nnc_tensor* t) {
  rd* head = type == 7 ? &d->names : p;
  uint64_t name_len, rank, dims[MAX_RANK];
  const uint8_t* name;
  int k, kind;
  size_t i;
  if (type == 7 && !d->have_names) return fail(d, "a tensor record names no tensor (no names table before it)");
  if (type == 7 && !left(head)) return fail(d, "more tensor records than the names table lists");
  name_len = get_num(head, 2);
  if (head->bad) return fail(d, "tensor record: %s", head->bad);
  if (name_len > MAX_NAME) return fail(d, "tensor name of %" PRIu64 " bytes is too long", name_len);
  name = get_bytes(head, name_len);
  if (head->bad) return fail(d, "tensor record: %s", head->bad);
  if (memchr(name, 0, (size_t)name_len)) return fail(d, "tensor name contains a NUL byte");
  if (!(t->name = (char*)malloc((size_t)name_len + 1))) return fail(d, "out of memory for a tensor name");
  memcpy(t->name, name, (size_t)name_len);
  t->name[name_len] = 0;
  rank = get_num(head, 1);
  if (head->bad) return fail(d, "tensor '%s' record: %s", t->name, head->bad);
  if (rank > MAX_RANK) return fail(d, "tensor '%s' has rank %" PRIu64, t->name, rank);
  t->rank = (int)rank;
  for (k = 0; k < t->rank; ++k) dims[k] = get_num(head, 8);
  if (head->bad) return fail(d, "tensor '%s' record: %s", t->name, head->bad);
  kind = (int)get_le(p, 1);
  if (p->bad) return fail(d, "tensor '%s' record: %s", t->name, p->bad);
  if (element_count(d, t->name, dims, t->rank, &t->numel)) return 1;
  for (k = 0; k < t->rank; ++k) t->dims[k] = (int64_t)dims[k];
  t->elem_type = 1;
  if (kind == 0) {
    const uint8_t* v = get_bytes(p, (uint64_t)t->numel * 4);
    if (p->bad) return fail(d, "tensor '%s' record: %s", t->name, p->bad);
    if (!(t->data = (float*)malloc(t->numel ? t->numel * sizeof(float) : 1)))
      return fail(d, "out of memory for tensor '%s'", t->name);
    if (t->numel) memcpy(t->data, v, t->numel * sizeof(float));
  } else if (kind == 1) {
    uint16_t* idx = NULL;
    const codebook* cb = NULL;
    if (read_indices(d, p, t->name, t->numel, &idx, &cb)) {
      free(idx);
      return 1;
    }
    if (!(t->data = (float*)malloc(t->numel ? t->numel * sizeof(float) : 1))) {
      free(idx);
      return fail(d, "out of memory for tensor '%s'", t->name);
    }
    for (i = 0; i < t->numel; ++i) t->data[i] = cb->values[idx[i]];
    free(idx);
  } else if (kind == 2) {
    if (read_sparse(d, p, t)) return 1;
  } else if (kind == 3 && d->version >= 5) {
    t->elem_type = 3;
    if (read_int8(d, p, t->name, t->numel, &t->data_i8)) return 1;
  } else {
    return fail(d, "tensor '%s' has unknown kind %d", t->name, kind);
  }
  if (left(p)) return fail(d, "tensor '%s' record has %" PRIu64 " trailing bytes", t->name, left(p));
  return 0;
}

static void free_tensor(nnc_tensor* t) {
  free(t->name);
  free(t->data);
  free(t->data_i8);
}

void nnc_free(nnc_model* m) {
  size_t i;
  if (!m) return;
  for (i = 0; i < m->count; ++i) free_tensor(&m->tensors[i]);
  free(m->tensors);
  free(m->graph_buffer);
  m->tensors = NULL;
  m->graph_buffer = NULL;
  m->graph = NULL;
  m->graph_size = 0;
  m->count = 0;
}

static int read_section(dec* d, int type, rd* p, nnc_model* out, size_t* cap) {
  nnc_tensor t;
  if (type == 1 || (type == 4 && d->version >= 2) || (type == 6 && d->version >= 6)) return read_graph(d, p, type, out);
  if (type == 2) return read_codebook(d, p);
  if (type == 5 && d->version >= 3) return read_scaled_codebook(d, p);
  if (type != 3 && !(type == 7 && d->version >= 6)) return fail(d, "unknown section type %d", type);
  if (out->count == *cap) {
    const size_t grown_cap = *cap ? *cap * 2 : 16;
    nnc_tensor* grown = (nnc_tensor*)realloc(out->tensors, sizeof(nnc_tensor) * grown_cap);
    if (!grown) return fail(d, "out of memory for tensors");
    out->tensors = grown;
    *cap = grown_cap;
  }
  memset(&t, 0, sizeof(t));
  if (read_tensor(d, p, type, &t)) {
    free_tensor(&t);
    return 1;
  }
  out->tensors[out->count++] = t;
  return 0;
}

int nnc_decode(const uint8_t* buf, size_t size, nnc_model* out, char* err, size_t err_size) {
  rd r;
  dec d;
  uint32_t stored;
  uint64_t sections, s;
  size_t cap = 0, i;
  int rc = 0;
  memset(out, 0, sizeof(*out));
  memset(&d, 0, sizeof(d));
  d.err = err;
  d.err_size = err_size;
  /* Header and trailer (12 bytes) at least: format 2 with no sections is 13 bytes. */
  if (size < 12 || memcmp(buf, "NNC\0", 4) != 0) return fail(&d, "not an .nnc container (bad magic)");
  d.version = buf[4] | (buf[5] << 8);
  if (d.version > 6) return fail(&d, "container format version is newer than this decoder");
  stored = (uint32_t)buf[size - 4] | ((uint32_t)buf[size - 3] << 8) | ((uint32_t)buf[size - 2] << 16) |
           ((uint32_t)buf[size - 1] << 24);
  if (nnc_crc32(buf, size - 4) != stored) return fail(&d, "checksum mismatch");
  r = reader(buf, size - 4, d.version);
  r.pos = 8;
  sections = get_num(&r, 4);
  for (s = 0; s < sections && !rc; ++s) {
    const int type = (int)get_le(&r, 1);
    const uint64_t len = get_num(&r, 8);
    const uint8_t* payload = get_bytes(&r, len);
    rd p;
    if (r.bad) {
      rc = fail(&d, r.bad == kTruncated ? "truncated section" : "corrupt container (overlong number)");
      break;
    }
    p = reader(payload, (size_t)len, d.version);
    rc = read_section(&d, type, &p, out, &cap);
  }
  if (!rc && r.bad) rc = fail(&d, r.bad == kTruncated ? "truncated container" : "corrupt container (overlong number)");
  if (!rc && left(&r)) rc = fail(&d, "trailing bytes after the last section");
  if (!rc && d.have_names && left(&d.names))
    rc = fail(&d, "the names table lists more tensors than the container has records");
  for (i = 0; i < d.ncb; ++i) free(d.cbs[i].values);
  free(d.cbs);
  if (rc) nnc_free(out);
  return rc;
}
