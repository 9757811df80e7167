#!/usr/bin/env node
// Runs one batch through ONNX Runtime: node ort_run.js MODEL IN.npy OUT.npy (float32, first output).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(file) {
  const b = fs.readFileSync(file);
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString('latin1');
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(Boolean).map(Number);
  const raw = b.subarray(10 + hlen);
  return { dims, data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
}

function writeNpy(file, dims, data) {
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  const pad = (64 - ((10 + header.length + 1) % 64)) % 64;
  const h = header + ' '.repeat(pad) + '\n';
  const buf = Buffer.alloc(10 + h.length + data.length * 4);
  buf.write('\x93NUMPY', 0, 'latin1'); buf[6] = 1; buf[7] = 0; buf.writeUInt16LE(h.length, 8);
  buf.write(h, 10, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(buf, 10 + h.length);
  fs.writeFileSync(file, buf);
}

(async () => {
  const [model, input, output] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 2 });
  const x = readNpy(input);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) });
  const y = out[s.outputNames[0]];
  writeNpy(output, y.dims, y.data);
})().catch(e => { console.error(`ort_run: ${e.message.split('\n')[0]}`); process.exit(1); });
