#!/usr/bin/env node
// ONNX Runtime baseline: median ms of batch-256 inference with 2 intra-op threads.
'use strict';
const ort = require('../tools/ort/node_modules/onnxruntime-node');
(async () => {
  const [model, batchArg, threadsArg] = process.argv.slice(2);
  const batch = Number(batchArg || 256), threads = Number(threadsArg || 2);
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all' });
  const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 784 }, () => Math.random() - 0.5), [batch, 1, 28, 28]);
  for (let i = 0; i < 5; ++i) await s.run({ [s.inputNames[0]]: x });
  const ts = [];
  for (let i = 0; i < 30; ++i) {
    const t = process.hrtime.bigint();
    await s.run({ [s.inputNames[0]]: x });
    ts.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ts.sort((a, b) => a - b);
  console.log(JSON.stringify({ model, runtime: 'onnxruntime', median_ms: ts[Math.floor(ts.length / 2)] }));
})();
