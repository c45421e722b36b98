"""Train the wine cultivar classifier and export it as ONNX, plus the demo data.

Run from the repo root:   /usr/bin/python3 models/wine/make_model.py
Needs (Debian):           python3-sklearn python3-onnx (python3-numpy comes with them)

Writes models/wine/{model.onnx,weights.json,manifest.json,expected.csv} and jobs/data/wine.csv.
Model: StandardScaler + multinomial LogisticRegression fit on all 178 rows of
sklearn's bundled UCI wine dataset; the ONNX graph is built by hand with onnx.helper.
"""
import hashlib
import json
import os

import numpy as np
import onnx
import sklearn
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "models", "wine")
DATA = os.path.join(ROOT, "jobs", "data")

ds = load_wine()
X, y = ds.data, ds.target
features = [f.replace("od280/od315_of_diluted_wines", "od280_od315") for f in ds.feature_names]
classes = [str(c) for c in ds.target_names]  # class_0, class_1, class_2

pipe = make_pipeline(StandardScaler(),
                     LogisticRegression(multi_class="multinomial", random_state=0, max_iter=1000))
pipe.fit(X, y)
scaler, lr = pipe[0], pipe[1]
print("training accuracy:", pipe.score(X, y))

# ---- ONNX graph: Sub -> Div -> MatMul -> Add -> Softmax / ArgMax
f32 = lambda a: np.asarray(a, dtype=np.float32)
inits = [numpy_helper.from_array(f32(scaler.mean_), "mean"),
         numpy_helper.from_array(f32(scaler.scale_), "scale"),
         numpy_helper.from_array(f32(lr.coef_.T), "coef_t"),
         numpy_helper.from_array(f32(lr.intercept_), "intercept")]
nodes = [helper.make_node("Sub", ["float_input", "mean"], ["centered"]),
         helper.make_node("Div", ["centered", "scale"], ["scaled"]),
         helper.make_node("MatMul", ["scaled", "coef_t"], ["matmul"]),
         helper.make_node("Add", ["matmul", "intercept"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
         helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0)]
graph = helper.make_graph(
    nodes, "wine_cultivar",
    [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, ["N", 13])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3]),
     helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
    inits)
model = helper.make_model(graph, producer_name="make_model.py",
                          opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx_path = os.path.join(OUT, "model.onnx")
onnx.save(model, onnx_path)
with open(onnx_path, "rb") as fh:
    sha = hashlib.sha256(fh.read()).hexdigest()


def dump(name, obj):
    with open(os.path.join(OUT, name), "w", newline="\n") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")


dump("weights.json", {"features": features,
                      "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
                      "coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist()})
dump("manifest.json", {
    "name": "wine",
    "description": "Wine cultivar classifier: StandardScaler + multinomial LogisticRegression",
    "dataset": {"source": "sklearn.datasets.load_wine", "rows": int(X.shape[0]),
                "license": "UCI wine dataset shipped with scikit-learn (UCI Machine Learning Repository)"},
    "inputs": [{"name": "float_input", "type": "float32", "shape": ["N", 13], "columns": features}],
    "outputs": [{"name": "probabilities", "type": "float32", "shape": ["N", 3]},
                {"name": "label", "type": "int64", "shape": ["N"]}],
    "classes": classes,
    "trained_with": {"sklearn": sklearn.__version__, "onnx": onnx.__version__,
                     "opset": 13, "ir_version": 7},
    "made_by": "make_model.py",
    "sha256": sha,
})

proba, pred = pipe.predict_proba(X), pipe.predict(X)
with open(os.path.join(OUT, "expected.csv"), "w", newline="\n") as fh:
    fh.write("id,p_class_0,p_class_1,p_class_2,label\n")
    for i, (p, lab) in enumerate(zip(proba, pred)):
        fh.write(",".join([str(i + 1)] + ["%.9g" % v for v in p] + [str(int(lab))]) + "\n")

os.makedirs(DATA, exist_ok=True)
with open(os.path.join(DATA, "wine.csv"), "w", newline="\n") as fh:
    fh.write(",".join(["id"] + features + ["cultivar"]) + "\n")
    for i, (row, t) in enumerate(zip(X, y)):
        fh.write(",".join([str(i + 1)] + [repr(float(v)) for v in row] + [classes[t]]) + "\n")

print("features:", features)
print("sha256:", sha)
