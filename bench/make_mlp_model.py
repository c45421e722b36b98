#!/usr/bin/python3
"""The compute-heavy bench models: MLPs F-H1-H2-H3-1 (ReLU, sigmoid) with seeded weights.
usage: make_mlp_model.py OUT_DIR [F=30] [H1,H2,H3=64,256,256] [NAME=mlp]
  -> OUT_DIR/NAME.onnx: input 'features' float32 [N,F], output 'score' float32 [N,1]
needs Debian's python3-onnx and python3-numpy"""
import sys, os, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
out = sys.argv[1]; F = int(sys.argv[2]) if len(sys.argv) > 2 else 30
hidden = [int(h) for h in (sys.argv[3] if len(sys.argv) > 3 else "64,256,256").split(",")]
name = sys.argv[4] if len(sys.argv) > 4 else "mlp"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
sizes = [F, *hidden, 1]
inits, nodes, x = [], [], "features"
for i in range(4):
    w = (rng.standard_normal((sizes[i], sizes[i + 1])) / np.sqrt(sizes[i])).astype(np.float32)
    b = (rng.standard_normal(sizes[i + 1]) * 0.01).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"B{i}")]
    nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"B{i}"], [f"a{i}"])]
    if i < 3:
        nodes.append(helper.make_node("Relu", [f"a{i}"], [f"h{i}"])); x = f"h{i}"
nodes.append(helper.make_node("Sigmoid", ["a3"], ["score"]))
g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", F])],
                      [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 7
onnx.checker.check_model(m); onnx.save(m, os.path.join(out, f"{name}.onnx"))
print("wrote", os.path.join(out, f"{name}.onnx"))
