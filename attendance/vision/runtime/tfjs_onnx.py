"""TensorFlow.js graph models rebuilt as ONNX graphs, for ONNX Runtime.

Why: the third-party networks Apel fetches at install time (attendance.vision.runtime.model_files) come as
TF.js graphs (a JSON topology and a binary of weights), and converting them with TensorFlow +
tf2onnx would put ~600 MB of TensorFlow in every install. The networks we use are plain
convolutional ones, so this module translates the few ops they have, and refuses any other op
by name rather than guess. TF graphs are NHWC; the ONNX graph runs NCHW, so the input is
transposed once, per-channel constants become (C, 1, 1), paddings are reordered, and a Reshape
transposes back to NHWC first so its output is laid out as TensorFlow's.

Checked: FaceRes gives what tf2onnx 1.17's conversion of the same files gives, to the last bit
(tests/vision/test_faceres.py; tf2onnx cannot read BlazeFace's fused convolutions); BlazeFace's
boxes agree with dlib's HOG boxes on real portraits (tests/vision/test_blazeface.py)."""
from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from attendance.vision.runtime.model_files import ModelFileError as ModelError
from attendance.vision.runtime.model_files import check_files, model_dir

Node = dict[str, Any]   # a TF.js graph node as its JSON gives it
T = TypeVar("T")


@dataclass
class TfjsGraph:
    nodes: dict[str, Node]          # name -> node (op, input, attr)
    consts: dict[str, np.ndarray]   # weights by name


def read_tfjs(json_path: Path, bin_path: Path) -> TfjsGraph:
    """A TF.js graph model: its nodes and its weights, float16-quantised weights widened."""
    try:
        spec = json.loads(json_path.read_text())
        raw = bin_path.read_bytes()
        nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
        manifest = spec["weightsManifest"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the TF.js model {json_path}: {exc}") from exc
    consts, pos = {}, 0
    for group in manifest:
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q and q.get("dtype") == "float16":
                arr, size = np.frombuffer(raw, np.float16, n, pos).astype(np.float32), 2 * n
            elif q:
                raise ModelError(f"{w['name']}: quantisation {q.get('dtype')} not supported")
            elif w["dtype"] == "float32":
                arr, size = np.frombuffer(raw, np.float32, n, pos), 4 * n
            elif w["dtype"] == "int32":
                arr, size = np.frombuffer(raw, np.int32, n, pos), 4 * n
            else:
                raise ModelError(f"{w['name']}: dtype {w['dtype']} not supported")
            consts[w["name"]] = arr.reshape(shape)
            pos += size
    if pos != len(raw):
        raise ModelError(f"{bin_path}: {len(raw)} bytes, the manifest describes {pos}")
    return TfjsGraph(nodes, consts)


def _attr_ints(node: Node, key: str) -> list[int]:
    return [int(i) for i in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_str(node: Node, key: str) -> str:
    return base64.b64decode(node.get("attr", {}).get(key, {}).get("s", "")).decode()


def _padding(node: Node) -> str:
    pad = _attr_str(node, "padding")
    if pad not in ("SAME", "VALID"):
        raise ModelError(f"{node['name']}: padding {pad!r} not supported")
    return "SAME_UPPER" if pad == "SAME" else "VALID"


def build_onnx(g: TfjsGraph, outputs: dict[str, list[str | int]], prep: list[onnx.NodeProto],
               prep_inits: list[onnx.TensorProto], input_spec: onnx.ValueInfoProto, name: str) -> onnx.ModelProto:
    """An onnx.ModelProto computing the TF.js graph's `outputs` (node name -> output shape, e.g.
    ["n", 1024]). `prep` (ONNX nodes, with `prep_inits`) turns the model input described by
    `input_spec` (an onnx ValueInfoProto) into "x": the network's input, NCHW float32."""
    inits = list(prep_inits)
    nodes = list(prep)
    names: dict[str, str] = {}
    done: set[str] = set()

    def const(cname: str) -> str:
        if cname not in done:
            v = np.asarray(g.consts[cname], np.float32)
            if v.ndim == 1:          # per channel: broadcast over NCHW's H and W
                v = v.reshape(-1, 1, 1)
            inits.append(numpy_helper.from_array(np.ascontiguousarray(v), cname))
            done.add(cname)
        return cname

    def conv(nname: str, node: Node, src: str, w: np.ndarray, bias: np.ndarray | None, depthwise: bool) -> None:
        kh, kw, cin, cout = w.shape
        if any(d != 1 for d in _attr_ints(node, "dilations")):
            raise ModelError(f"{nname}: dilated convolutions not supported")
        if depthwise:   # (kh, kw, cin, multiplier) -> (cin * multiplier, 1, kh, kw)
            wt, group = w.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw), cin
        else:
            wt, group = w.transpose(3, 2, 0, 1), 1
        ins = [src, nname + "_w"]
        inits.append(numpy_helper.from_array(np.ascontiguousarray(wt, np.float32), nname + "_w"))
        if bias is not None:
            inits.append(numpy_helper.from_array(np.asarray(bias, np.float32).reshape(-1), nname + "_b"))
            ins.append(nname + "_b")
        nodes.append(helper.make_node("Conv", ins, [nname], kernel_shape=[kh, kw],
                                      strides=_attr_ints(node, "strides")[1:3] or [1, 1], group=group,
                                      auto_pad=_padding(node)))

    def emit(nname: str) -> str:
        if nname in names:
            return names[nname]
        node = g.nodes.get(nname)
        if node is None:
            raise ModelError(f"the graph has no node {nname}")
        op, ins = node["op"], [i.split(":")[0] for i in node.get("input", [])]
        out = nname
        if op == "Placeholder":
            names[nname] = "x"
            return "x"
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            conv(nname, node, emit(ins[0]), np.asarray(g.consts[ins[1]], np.float32), None, op != "Conv2D")
        elif op == "_FusedConv2D":
            fused_ops = node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
            fused = [base64.b64decode(s).decode() for s in fused_ops]
            if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
                raise ModelError(f"{nname}: fused ops {fused} not supported")
            relu = fused[-1] == "Relu"
            conv(nname + "_conv" if relu else nname, node, emit(ins[0]), np.asarray(g.consts[ins[1]], np.float32),
                 g.consts[ins[2]], False)
            if relu:
                nodes.append(helper.make_node("Relu", [nname + "_conv"], [nname]))
        elif op in ("Add", "AddV2", "Mul", "Minimum", "Maximum"):
            onnx_op = {"Add": "Add", "AddV2": "Add", "Mul": "Mul", "Minimum": "Min", "Maximum": "Max"}[op]
            nodes.append(helper.make_node(onnx_op, [const(i) if i in g.consts else emit(i) for i in ins], [nname]))
        elif op in ("Relu", "Identity"):
            nodes.append(helper.make_node(op, [emit(ins[0])], [nname]))
        elif op == "MaxPool":
            nodes.append(helper.make_node("MaxPool", [emit(ins[0])], [nname],
                                          kernel_shape=_attr_ints(node, "ksize")[1:3],
                                          strides=_attr_ints(node, "strides")[1:3], auto_pad=_padding(node)))
        elif op == "Pad":
            p = np.asarray(g.consts[ins[1]]).reshape(4, 2)[[0, 3, 1, 2]]     # NHWC (before, after) -> NCHW
            inits.append(numpy_helper.from_array(np.concatenate([p[:, 0], p[:, 1]]).astype(np.int64), nname + "_pads"))
            nodes.append(helper.make_node("Pad", [emit(ins[0]), nname + "_pads"], [nname], mode="constant"))
        elif op == "Reshape":
            inits.append(numpy_helper.from_array(np.asarray(g.consts[ins[1]]).astype(np.int64), nname + "_shape"))
            nodes.extend([helper.make_node("Transpose", [emit(ins[0])], [nname + "_nhwc"], perm=[0, 2, 3, 1]),
                          helper.make_node("Reshape", [nname + "_nhwc", nname + "_shape"], [nname])])
        elif op == "Mean":
            axes = sorted(int(a) for a in np.ravel(g.consts[ins[1]]))
            if axes != [1, 2]:
                raise ModelError(f"{nname}: mean over axes {axes} not supported")
            nodes.extend([helper.make_node("GlobalAveragePool", [emit(ins[0])], [nname + "_4d"]),
                          helper.make_node("Flatten", [nname + "_4d"], [nname], axis=1)])
        else:
            raise ModelError(f"{nname}: op {op} not supported")
        names[nname] = out
        return out

    outs = []
    for i, (oname, shape) in enumerate(outputs.items()):
        nodes.append(helper.make_node("Identity", [emit(oname)], [f"out{i}"]))
        outs.append(helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, shape))
    model = helper.make_model(helper.make_graph(nodes, name, [input_spec], outs, inits),
                              opset_imports=[helper.make_opsetid("", 17)], producer_name="apel")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


def session(model: onnx.ModelProto, threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for `model`, on `threads` threads, run sequentially."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])


def fetched_session(stem: str, build: Callable[[TfjsGraph], onnx.ModelProto], directory: Path | None = None,
                    threads: int = 1) -> ort.InferenceSession:
    """A session for the fetched TF.js model `stem` (`stem`.json and .bin, attendance.vision.runtime.model_files,
    hashes checked), translated by `build` (TfjsGraph -> onnx.ModelProto)."""
    d = check_files(directory)
    return session(build(read_tfjs(d / f"{stem}.json", d / f"{stem}.bin")), threads)


@functools.lru_cache(maxsize=8)
def _instance(cls: Callable[..., Any], directory: str, threads: int) -> Any:
    return cls(Path(directory), threads=threads)


def load_once(cls: Callable[..., T], directory: Path | None = None, threads: int = 1) -> T:
    """One `cls(directory, threads=threads)` per process (and directory, threads): the graph is
    rebuilt from the TF.js files on first use (cheaply), nothing is written to disk."""
    return cast(T, _instance(cls, str((directory or model_dir()).resolve()), threads))
