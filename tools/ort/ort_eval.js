#!/usr/bin/env node
// Evaluates an ONNX model in ONNX Runtime (CPU) on the test split of an IDX or NPY data set,
// normalised like nncompress does: ((x / 255) - mean) / std with mean/std from the model's
// metadata_props (nncompress.input_mean / nncompress.input_std) unless given.
// Usage: node ort_eval.js MODEL [--data fashion-mnist|DIR] [--mean M --std S] [--batch 256]
//                         [--limit N] [--threads 2] [--dump-logits FILE.npy]
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { data: 'fashion-mnist', batch: 256, threads: 2, limit: 0 };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    if (!k.startsWith('--')) { a.model = k; continue; }
    a[k.slice(2).replace(/-/g, '_')] = argv[++i];
  }
  if (!a.model) { console.error('usage: ort_eval.js MODEL [--data DIR]'); process.exit(2); }
  return a;
}

function readMaybeGzip(file) {
  const buf = fs.readFileSync(file);
  return buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
}

function findFile(dir, stem) {
  for (const ext of ['', '.gz']) { const p = path.join(dir, stem + ext); if (fs.existsSync(p)) return p; }
  return null;
}

function readIdx(file) {
  const b = readMaybeGzip(file);
  const ndim = b[3];
  const dims = [];
  for (let d = 0; d < ndim; ++d) dims.push(b.readUInt32BE(4 + 4 * d));
  return { dims, data: b.subarray(4 + 4 * ndim) };
}

// Minimal NPY reader (uint8/float32 images, int64/int32 labels).
function readNpy(file) {
  const b = fs.readFileSync(file);
  const hlen = b[6] === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = b[6] === 1 ? 10 : 12;
  const header = b.subarray(off, off + hlen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(Boolean).map(Number);
  const raw = b.subarray(off + hlen);
  const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const data = descr === '|u1' ? new Uint8Array(ab) : descr === '<f4' ? new Float32Array(ab)
    : descr === '<i8' ? Array.from(new BigInt64Array(ab), Number) : descr === '<i4' ? new Int32Array(ab) : null;
  if (!data) throw new Error(`${file}: unsupported NPY dtype ${descr}`);
  return { dims, data };
}

function loadTest(dataArg) {
  const dir = dataArg === 'fashion-mnist' ? '/usr/share/datasets/fashion-mnist' : dataArg;
  const xi = findFile(dir, 't10k-images-idx3-ubyte');
  if (xi) {
    const x = readIdx(xi), y = readIdx(findFile(dir, 't10k-labels-idx1-ubyte'));
    return { n: x.dims[0], shape: [1, x.dims[1], x.dims[2]], pixels: x.data, scale: 255, labels: y.data };
  }
  const x = readNpy(path.join(dir, 'test_x.npy')), y = readNpy(path.join(dir, 'test_y.npy'));
  const shape = x.dims.length === 3 ? [1, x.dims[1], x.dims[2]] : x.dims.slice(1);
  return { n: x.dims[0], shape, pixels: x.data, scale: x.data instanceof Uint8Array ? 255 : 1, labels: y.data };
}

// ModelProto.metadata_props (field 14: StringStringEntryProto{key=1, value=2}) read straight
// from the protobuf wire format; onnxruntime-node does not expose custom metadata.
function modelMetadata(file) {
  const b = fs.readFileSync(file);
  const out = {};
  const varint = (buf, pos) => {
    let v = 0, mul = 1, c;
    do { c = buf[pos.i++]; v += (c & 0x7f) * mul; mul *= 128; } while (c & 0x80);
    return v;
  };
  const fields = (buf, cb) => {
    const pos = { i: 0 };
    while (pos.i < buf.length) {
      const tag = varint(buf, pos), field = Math.floor(tag / 8), wt = tag % 8;
      if (wt === 0) varint(buf, pos);
      else if (wt === 1) pos.i += 8;
      else if (wt === 5) pos.i += 4;
      else if (wt === 2) { const len = varint(buf, pos); cb(field, buf.subarray(pos.i, pos.i + len)); pos.i += len; }
      else throw new Error(`${file}: unexpected protobuf wire type ${wt}`);
    }
  };
  fields(b, (field, sub) => {
    if (field !== 14) return;
    let key = '', value = '';
    fields(sub, (f, s) => { if (f === 1) key = s.toString('utf8'); else if (f === 2) value = s.toString('utf8'); });
    out[key] = value;
  });
  return out;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: Number(a.threads), interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  let mean = a.mean, std = a.std;
  if (mean === undefined || std === undefined) {
    const map = modelMetadata(a.model);
    mean = map['nncompress.input_mean'];
    std = map['nncompress.input_std'];
  }
  if (mean === undefined || std === undefined) {
    console.error(`${a.model}: model has no input normalisation metadata; pass --mean and --std`);
    process.exit(1);
  }
  const means = String(mean).split(',').map(Number), stds = String(std).split(',').map(Number);
  const d = loadTest(a.data);
  const n = a.limit ? Math.min(Number(a.limit), d.n) : d.n;
  const per = d.shape.reduce((p, v) => p * v, 1);
  const hw = per / d.shape[0];
  const inputName = session.inputNames[0];
  // A model exported with a fixed batch size runs in batches of that size (the last one
  // zero-padded, its padding rows ignored).
  const meta = session.inputMetadata && session.inputMetadata[0];
  const fixedBatch = meta && meta.shape && typeof meta.shape[0] === 'number' && meta.shape[0] > 0 ? meta.shape[0] : 0;
  const batch = fixedBatch || Number(a.batch);
  // Single-channel images for a model that takes N x H x W: drop the channel dimension; for one
  // that takes N x (C*H*W) (an MLP without a Flatten): flatten them.
  const rank = meta && meta.shape ? meta.shape.length : 0;
  const dataShape = rank === 3 && d.shape.length === 3 && d.shape[0] === 1 ? d.shape.slice(1)
    : rank === 2 ? [per] : d.shape;
  let correct1 = 0, correct5 = 0, classes = 0;
  const allLogits = [];
  const tRun = process.hrtime.bigint();
  for (let start = 0; start < n; start += batch) {
    const b = Math.min(batch, n - start);
    const rows = fixedBatch || b;
    const x = new Float32Array(rows * per);
    for (let i = 0; i < b * per; ++i) {
      const c = Math.floor((i % per) / hw);
      const m = means.length === 1 ? means[0] : means[c], s = stds.length === 1 ? stds[0] : stds[c];
      x[i] = (d.pixels[start * per + i] / d.scale - m) / s;
    }
    const out = await session.run({ [inputName]: new ort.Tensor('float32', x, [rows, ...dataShape]) });
    const logits = out[session.outputNames[0]];
    classes = logits.dims[1];
    for (let i = 0; i < b; ++i) {
      const row = Array.from(logits.data.subarray(i * classes, (i + 1) * classes));
      const label = Number(d.labels[start + i]);
      const order = row.map((v, j) => [v, j]).sort((p, q) => q[0] - p[0]);
      if (order[0][1] === label) ++correct1;
      if (order.slice(0, 5).some(e => e[1] === label)) ++correct5;
      if (a.dump_logits) allLogits.push(...row);
    }
  }
  const tEnd = process.hrtime.bigint();
  if (a.dump_logits) {
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${classes}), }`;
    const pad = 64 - ((10 + header.length + 1) % 64);
    const h = header + ' '.repeat(pad % 64) + '\n';
    const buf = Buffer.alloc(10 + h.length + n * classes * 4);
    buf.write('\x93NUMPY', 0, 'latin1'); buf[6] = 1; buf[7] = 0; buf.writeUInt16LE(h.length, 8);
    buf.write(h, 10, 'latin1');
    Buffer.from(new Float32Array(allLogits).buffer).copy(buf, 10 + h.length);
    fs.writeFileSync(a.dump_logits, buf);
  }
  console.log(JSON.stringify({ model: a.model, top1: correct1 / n, top5: correct5 / n, n,
    seconds: Number(tEnd - tRun) / 1e9, total_seconds: Number(tEnd - t0) / 1e9 }));
}

main().catch(e => { console.error(`ort_eval: ${e.message.split('\n')[0]}`); process.exit(1); });
