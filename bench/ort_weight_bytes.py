#!/usr/bin/python3
"""Weight bytes ONNX Runtime holds for a model: the initializers of the graph it saved after its
optimisations (bench/ort_memory.js with ORT_OPTIMIZED_MODEL), by element type. A QDQ model's
weights stay int8 there (fused into QLinearConv / QGemm); a shared model's codebook lookup is
folded into fp32 weights. Prints one JSON line. Usage: ort_weight_bytes.py OPTIMIZED.onnx"""
import json
import sys

import onnx
from onnx import numpy_helper

model = onnx.load(sys.argv[1])
by_type = {}
for t in model.graph.initializer:
    a = numpy_helper.to_array(t)
    by_type[a.dtype.name] = by_type.get(a.dtype.name, 0) + a.nbytes
print(json.dumps({"weight_bytes": sum(by_type.values()), "by_type": by_type,
                  "ops": sorted({n.op_type for n in model.graph.node})}))
