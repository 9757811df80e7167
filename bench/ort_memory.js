#!/usr/bin/env node
// ONNX Runtime's resident memory for a model and its batch latency, as a deployment meets them:
// RSS before and after session creation (the weights as the runtime keeps them, after its graph
// optimisations: a QDQ model's int8 weights stay int8, a codebook lookup is folded to fp32) and
// after the first batch, then the median of 20 batch runs. Then 8 more sessions of the same model:
// their RSS growth / 8 is the memory one more session of this model takes (its weights as kept,
// prepacked kernels' copies, the graph), without the runtime's one-time costs that dominate the
// first session's growth for small models (`session_model_bytes`).
// With ORT_OPTIMIZED_MODEL=PATH, the optimised graph is saved there (bench/ort_weight_bytes.py
// counts the weight bytes it holds).
// Usage: node bench/ort_memory.js MODEL [BATCH=256] [THREADS=2]   (prints one JSON line)
'use strict';
const ort = require('../tools/ort/node_modules/onnxruntime-node');
(async () => {
  const [model, batchArg, threadsArg] = process.argv.slice(2);
  const batch = Number(batchArg || 256), threads = Number(threadsArg || 2);
  const rss = () => process.memoryUsage().rss;
  global.gc && global.gc();
  const before = rss();
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const created = rss();
  const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 784 }, () => Math.random()), [batch, 1, 28, 28]);
  await s.run({ [s.inputNames[0]]: x });
  const ran = rss();
  const ts = [];
  for (let i = 0; i < 20; ++i) {
    const t = process.hrtime.bigint();
    await s.run({ [s.inputNames[0]]: x });
    ts.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ts.sort((a, b) => a - b);
  const extra = 8, held = [];
  global.gc && global.gc();
  const one = rss();
  for (let i = 0; i < extra; ++i)
    held.push(await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1,
      graphOptimizationLevel: 'all', logSeverityLevel: 3 }));
  const more = rss();
  // The graph as the runtime keeps it after its optimisations (QDQ fused into int8 kernels, a
  // codebook lookup folded to fp32), for counting the weight bytes it holds.
  if (process.env.ORT_OPTIMIZED_MODEL)
    await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', logSeverityLevel: 3,
      optimizedModelFilePath: process.env.ORT_OPTIMIZED_MODEL });
  console.log(JSON.stringify({ model, session_rss_bytes: created - before, first_run_rss_bytes: ran - before,
                               session_model_bytes: (more - one) / extra, median_ms: ts[Math.floor(ts.length / 2)],
                               batch, threads, sessions: held.length + 1 }));
})();
