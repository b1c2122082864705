"""dlib's face-recognition ResNet run by ONNX Runtime: the same network, the same descriptors.

dlib-bin has no BLAS, so `face_recognition_model_v1.compute_face_descriptor` is slow (several
times slower than ONNX Runtime on the same network; docs/vision.md). This module reads the
weights from the installed, public-domain `dlib_face_recognition_resnet_model_v1.dat` (shipped in
face_recognition_models; nothing is downloaded), rebuilds the network (dlib's
examples/dnn_face_recognition_ex.cpp) as an ONNX graph and runs it with ONNX Runtime. Descriptors
agree with dlib's to ~1e-5, so the matching thresholds fitted on dlib's descriptors
(models/thresholds.json) stay valid.

The file format (dlib/serialize.h, dlib/dnn/{core,layers,input,loss,tensor}.h):
- ints: a control byte (bit 7 = negative, low 4 bits = byte count) then little-endian bytes;
  strings: an int length then the bytes; bools: ASCII '1' / '0';
  floats: mantissa int64 then exponent int16 (value = mantissa * 2**exponent).
- a tensor: int version (1: floats as above; 2: raw little-endian float32), then num_samples,
  k, nr, nc and the values.
- the network: add_loss_layer (version, loss details, subnetwork); each add_layer writes its
  version, then its subnetwork, then its layer details and its bookkeeping (3 bools, 3 tensors);
  tag and skip layers write a version and their subnetwork; the bottom add_layer writes the
  input layer (mean colours) before its details. So the file holds all the versions first
  (outermost layer first) and then the layer details from the input upwards.

The network (dlib's names): con 7x7/2 32, affine, relu, max_pool 3x3/2; residual stages of
two 3x3 convolutions each followed by affine, the block input added back (through avg_pool
2x2/2 where the block downsamples, with zero padding where channels or sizes differ: dlib's
add_prev adds tensors of different shapes as if both were zero-padded to the larger shape),
relu; then avg_pool over everything and fc_no_bias 256 -> 128. Padding is 0 where the stride is
2, else size/2.

The conversion is cheap (the file's weight tensors are raw float32), so nothing is cached on
disk; `load` keeps one encoder per process and checks it against dlib itself on one chip before it is used."""
from __future__ import annotations

import builtins
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlib
import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger(__name__)

CHIP = 150


class DlibModelError(ValueError):
    """The .dat file is not the dlib face-recognition ResNet this module knows how to convert."""


# ----------------------------------------------------------------------------- reading the file

class _Reader:
    def __init__(self, data: bytes) -> None:
        self.b = data
        self.arr = np.frombuffer(data, np.uint8)
        self.pos = 0

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.b):
            raise DlibModelError(f"file truncated at byte {self.pos} (needed {n} more bytes, size {len(self.b)})")

    def int(self) -> int:
        self._need(1)
        ctrl = self.b[self.pos]
        size = ctrl & 0x0F
        if size > 8:
            raise DlibModelError(f"bad integer control byte 0x{ctrl:02x} at byte {self.pos}")
        self._need(1 + size)
        v = int.from_bytes(self.b[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -v if ctrl & 0x80 else v

    def peek_int(self) -> builtins.int:
        pos = self.pos
        try:
            return self.int()
        finally:
            self.pos = pos

    def str(self, max_len: builtins.int = 256) -> builtins.str:
        n = self.int()
        if not 0 <= n <= max_len:
            raise DlibModelError(f"bad string length {n} at byte {self.pos}")
        self._need(n)
        s = self.b[self.pos:self.pos + n]
        self.pos += n
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            raise DlibModelError(f"non-text layer name at byte {self.pos - n}") from None

    def float(self) -> builtins.float:
        mantissa = self.int()
        exponent = self.int()
        if exponent >= 32000:  # float_details' inf / -inf / nan markers
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> builtins.bool:
        self._need(1)
        c = self.b[self.pos]
        self.pos += 1
        if c not in (0x30, 0x31):
            raise DlibModelError(f"bad bool byte 0x{c:02x} at byte {self.pos - 1}")
        return c == 0x31

    def expect(self, *names: builtins.str) -> builtins.str:
        at = self.pos
        s = self.str()
        if s not in names:
            raise DlibModelError(f"expected {' or '.join(names)!s} at byte {at}, found {s!r}")
        return s

    def alias(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        if self.int() != 1:
            raise DlibModelError(f"unknown alias_tensor version before byte {self.pos}")
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]

    def tensor(self) -> NDArray[np.float32]:
        version = self.int()
        shape = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in shape) or int(np.prod(shape)) > 50_000_000:
            raise DlibModelError(f"bad tensor shape {shape} before byte {self.pos}")
        n = int(np.prod(shape))
        if version == 2:
            self._need(4 * n)
            out = np.frombuffer(self.b, "<f4", n, self.pos).astype(np.float32)
            self.pos += 4 * n
        elif version == 1:
            out = self._compact_floats(n)
        else:
            raise DlibModelError(f"unknown tensor version {version} before byte {self.pos}")
        return out.reshape(shape)

    def _compact_floats(self, n: builtins.int) -> NDArray[np.float32]:
        """n floats in dlib's portable encoding, vectorised: each is [ctrl, mantissa bytes,
        ctrl, exponent bytes]; only the walk from one record to the next is a Python loop."""
        if n == 0:
            return np.zeros(0, np.float32)
        a = self.arr
        start = self.pos
        # A record is at least 4 bytes and at most 1+8+1+2; look far enough ahead.
        end = min(len(a), start + 12 * n + 16)
        seg = a[start:end].astype(np.int64)
        m = seg & 0x0F                                   # mantissa size if a record starts here
        idx = np.arange(len(seg))
        ectrl_at = idx + 1 + m
        ok = ectrl_at < len(seg)
        e = np.where(ok, seg[np.minimum(ectrl_at, len(seg) - 1)] & 0x0F, 0)
        nxt = (ectrl_at + 1 + e).tolist()
        starts = np.empty(n, np.int64)
        p = 0
        limit = len(seg)
        for i in range(n):
            if p >= limit:
                raise DlibModelError(f"file truncated inside a tensor (record {i} of {n})")
            starts[i] = p
            p = nxt[p]
        if p > len(a) - start:
            raise DlibModelError(f"file truncated inside a tensor (record {n - 1} of {n})")
        ms = m[starts]
        if (ms > 8).any():
            raise DlibModelError(f"bad float encoding in the tensor at byte {start}")
        mant = np.zeros(n, np.uint64)
        for j in range(8):
            sel = ms > j
            if not sel.any():
                break
            mant[sel] |= seg[starts[sel] + 1 + j].astype(np.uint64) << np.uint64(8 * j)
        e_at = starts + 1 + ms
        es = seg[e_at] & 0x0F
        if (es > 2).any():
            raise DlibModelError(f"bad float exponent in the tensor at byte {start}")
        expo = np.zeros(n, np.int64)
        for j in range(2):
            sel = es > j
            expo[sel] |= seg[e_at[sel] + 1 + j] << (8 * j)
        expo = np.where(seg[e_at] & 0x80, -expo, expo)
        if (expo >= 32000).any():
            raise DlibModelError("inf or nan in the network's weights")
        val = np.ldexp(mant.astype(np.float64), expo.astype(np.int32))
        val = np.where(seg[starts] & 0x80, -val, val)
        self.pos = start + p
        return val.astype(np.float32)


# ----------------------------------------------------------------------------- writing the format

def pack_int(v: int) -> bytes:
    """An int as dlib serialises it (the inverse of `_Reader.int`)."""
    neg, v = (0x80, -v) if v < 0 else (0, v)
    b = bytearray()
    while True:
        b.append(v & 0xFF)
        v >>= 8
        if v == 0:
            break
    return bytes([len(b) | neg]) + bytes(b)


def unpack_int(b: bytes) -> int:
    """The int `pack_int` wrote at the start of `b`."""
    return _Reader(b).int()


def pack_float(x: float, mantissa_bits: int = 53) -> bytes:
    """A number as dlib's float_details (mantissa, exponent; low zero bytes of the mantissa shifted
    into the exponent, as dlib writes them): 53 mantissa bits for a double, 24 for a float.
    The training script rewrites a detector's bias with it; tests build tensors with it."""
    if x == 0:
        return pack_int(0) + pack_int(0)
    frac, exp = math.frexp(x)
    mant, exp = int(frac * (1 << mantissa_bits)), exp - mantissa_bits
    for _ in range(8):
        if mant & 0xFF:
            break
        mant >>= 8
        exp += 8
    return pack_int(mant) + pack_int(exp)


@dataclass
class Layer:
    kind: str                      # con, affine, relu, max_pool, avg_pool, add_prev, fc
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    ints: dict[str, int] = field(default_factory=dict)


def _bookkeeping(r: _Reader, version: int) -> None:
    """What an add_layer writes after its details: 3 bools and 2 or 3 (empty) tensors."""
    for _ in range(3):
        r.bool()
    for _ in range(3 if version == 2 else 2):
        r.tensor()


def _layer(r: _Reader) -> Layer:
    at = r.pos
    name = r.str()
    if name == "con_4":
        params = r.tensor().ravel()
        num_filters, nr, nc = r.int(), r.int(), r.int()
        sy, sx, py, px = r.int(), r.int(), r.int(), r.int()
        filt = r.alias()
        bias = r.alias()
        for _ in range(4):
            r.float()
        k_in = filt[1]
        nw = num_filters * k_in * nr * nc
        if filt != (num_filters, k_in, nr, nc) or bias[:2] != (1, num_filters) or params.size != nw + num_filters:
            raise DlibModelError(f"con_ at byte {at}: parameters {params.size} do not match filters {filt}")
        return Layer("con", {"w": params[:nw].reshape(num_filters, k_in, nr, nc), "b": params[nw:].copy()},
                     {"stride_y": sy, "stride_x": sx, "pad_y": py, "pad_x": px})
    if name == "affine_":
        params = r.tensor().ravel()
        gamma = r.alias()
        r.alias()
        # newer dlib writes the mode (an int: control byte 0x01); older files go straight on to
        # the add_layer's bools (ASCII '0' / '1')
        r._need(1)
        mode = r.int() if r.b[r.pos] not in (0x30, 0x31) else 0
        k = int(np.prod(gamma))
        if mode != 0 or gamma[0] != 1 or k != gamma[1] or params.size != 2 * k:
            raise DlibModelError(f"affine_ at byte {at}: only per-channel (conv mode) affine is supported")
        return Layer("affine", {"gamma": params[:k].copy(), "beta": params[k:].copy()})
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        return Layer(name[:-2], ints={"nr": nr, "nc": nc, "stride_y": sy, "stride_x": sx, "pad_y": py, "pad_x": px})
    if name == "relu_":
        return Layer("relu")
    if name == "add_prev_":
        return Layer("add_prev")
    if name == "fc_2":
        n_out, n_in = r.int(), r.int()
        params = r.tensor().ravel()
        r.alias()
        r.alias()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        has_bias = bias_mode == 0  # dlib: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
        nw = n_in * n_out
        if params.size != nw + (n_out if has_bias else 0):
            raise DlibModelError(f"fc_ at byte {at}: {params.size} parameters for {n_in}x{n_out}")
        arrays = {"w": params[:nw].reshape(n_in, n_out)}
        if has_bias:
            arrays["b"] = params[nw:].copy()
        return Layer("fc", arrays)
    raise DlibModelError(f"unsupported layer {name!r} at byte {at}")


def parse_dat(data: bytes) -> tuple[np.ndarray, list[Layer]]:
    """(mean RGB, computational layers from the input upwards) of a serialized dlib net."""
    r = _Reader(data)
    if r.int() != 1:
        raise DlibModelError("not a dlib network (add_loss_layer version)")
    r.expect("loss_metric_2", "loss_metric_")
    r.float()
    r.float()
    versions: list[int] = []
    while True:
        v = r.peek_int()
        if v not in (1, 2, 3):
            break
        versions.append(r.int())
        if len(versions) > 10_000:
            raise DlibModelError("no input layer found")
    if not versions:
        raise DlibModelError("no layers")
    input_version = versions.pop()        # the bottom add_layer's version (2 or 3)
    r.expect("input_rgb_image_sized")
    mean = np.array([r.float(), r.float(), r.float()], np.float32)
    if (r.int(), r.int()) != (CHIP, CHIP):
        raise DlibModelError(f"the network's input is not {CHIP}x{CHIP}")
    layers = [_layer(r)]
    for _ in range(3):
        r.bool()
    for _ in range(3):   # x_grad, cached_output, grad_final
        r.tensor()
    if input_version >= 3:
        r.int()                           # sample expansion factor
    for v in reversed(versions):
        if v == 1:
            continue                      # tag / skip layers: no details of their own
        layers.append(_layer(r))
        _bookkeeping(r, v)
    if r.pos != len(data):
        raise DlibModelError(f"{len(data) - r.pos} unexpected bytes after the network")
    return mean, layers


# ----------------------------------------------------------------------------- the network

@dataclass
class Net:
    """The converted network, as plain arrays (what the cache stores)."""
    mean: np.ndarray                  # (3,) RGB
    ops: list[tuple[Any, ...]]        # see _plan
    arrays: dict[str, np.ndarray]


def _plan(mean: np.ndarray, layers: list[Layer]) -> Net:
    """Turn the layer sequence into ops over named tensors, folding each affine into the
    convolution before it. Residual blocks are recognised structurally: a block starts at a
    convolution met outside a block (after the stem); a stride-2 avg_pool right after the
    block's second affine pools the block's input; add_prev adds the two."""
    ops: list[tuple[Any, ...]] = []
    arrays: dict[str, np.ndarray] = {}
    kinds = [layer.kind for layer in layers]
    i = 0
    cur = "x"
    n = 0
    block_in: str | None = None
    skip: str | None = None

    def name(prefix: str) -> str:
        nonlocal n
        n += 1
        return f"{prefix}{n}"

    while i < len(layers):
        layer = layers[i]
        if layer.kind == "con":
            if i > 0 and block_in is None:   # the first convolution of a residual block
                block_in, skip = cur, None
            w, b = layer.arrays["w"].astype(np.float64), layer.arrays["b"].astype(np.float64)
            if i + 1 < len(layers) and kinds[i + 1] == "affine":
                g = layers[i + 1].arrays["gamma"].astype(np.float64)
                be = layers[i + 1].arrays["beta"].astype(np.float64)
                w = w * g[:, None, None, None]
                b = b * g + be
                i += 1
            out = name("c")
            arrays[out + "_w"] = w.astype(np.float32)
            arrays[out + "_b"] = b.astype(np.float32)
            ops.append(("conv", cur, out, layer.ints["stride_y"], layer.ints["stride_x"],
                        layer.ints["pad_y"], layer.ints["pad_x"]))
            cur = out
        elif layer.kind == "relu":
            out = name("r")
            ops.append(("relu", cur, out))
            cur = out
        elif layer.kind == "max_pool":
            out = name("m")
            ops.append(("max_pool", cur, out, layer.ints["nr"], layer.ints["stride_y"], layer.ints["pad_y"]))
            cur = out
            block_in = None
        elif layer.kind == "avg_pool":
            if layer.ints["nr"] == 0:        # avg_pool_everything
                out = name("g")
                ops.append(("global_avg", cur, out))
                cur = out
            else:
                if block_in is None or i + 1 >= len(layers) or kinds[i + 1] != "add_prev":
                    raise DlibModelError("avg_pool outside a downsampling residual block")
                skip = name("p")
                ops.append(("avg_pool", block_in, skip, layer.ints["nr"], layer.ints["stride_y"], layer.ints["pad_y"]))
        elif layer.kind == "add_prev":
            if block_in is None:
                raise DlibModelError("add_prev outside a residual block")
            out = name("a")
            ops.append(("add", cur, skip or block_in, out))
            cur = out
            block_in = skip = None
        elif layer.kind == "fc":
            out = name("f")
            arrays[out + "_w"] = layer.arrays["w"].astype(np.float32)
            if "b" in layer.arrays:
                arrays[out + "_b"] = layer.arrays["b"].astype(np.float32)
            ops.append(("fc", cur, out))
            cur = out
        else:
            raise DlibModelError(f"unexpected {layer.kind} layer (position {i})")
        i += 1
    if not ops or ops[-1][0] != "fc":
        raise DlibModelError("the network does not end in a fully connected layer")
    return Net(mean.astype(np.float32), ops, arrays)


def _pool_out(size: int, k: int, s: int, p: int) -> int:
    return 1 + (size + 2 * p - k) // s


def build_onnx(net: Net) -> onnx.ModelProto:
    """An onnx.ModelProto: uint8 RGB chips (N, 150, 150, 3) -> float32 descriptors (N, 128)."""
    nodes = []
    inits = [numpy_helper.from_array(net.mean.reshape(1, 1, 1, 3), "mean"),
             numpy_helper.from_array(np.array(1 / 256, np.float32), "scale")]
    nodes += [helper.make_node("Cast", ["chips"], ["chips_f"], to=TensorProto.FLOAT),
              helper.make_node("Sub", ["chips_f", "mean"], ["centred"]),
              helper.make_node("Mul", ["centred", "scale"], ["scaled"]),
              helper.make_node("Transpose", ["scaled"], ["x"], perm=[0, 3, 1, 2])]
    shapes: dict[str, tuple[int, int, int]] = {"x": (3, CHIP, CHIP)}
    for op in net.ops:
        kind = op[0]
        if kind == "conv":
            _, src, out, sy, sx, py, px = op
            w = net.arrays[out + "_w"]
            c, h, wd = shapes[src]
            if w.shape[1] != c:
                raise DlibModelError(f"{out}: {w.shape[1]} input channels, {c} arriving")
            inits += [numpy_helper.from_array(w, out + "_w"),
                      numpy_helper.from_array(net.arrays[out + "_b"], out + "_b")]
            nodes.append(helper.make_node("Conv", [src, out + "_w", out + "_b"], [out], kernel_shape=list(w.shape[2:]),
                                          strides=[sy, sx], pads=[py, px, py, px]))
            shapes[out] = (w.shape[0], _pool_out(h, w.shape[2], sy, py), _pool_out(wd, w.shape[3], sx, px))
        elif kind == "relu":
            _, src, out = op
            nodes.append(helper.make_node("Relu", [src], [out]))
            shapes[out] = shapes[src]
        elif kind in ("max_pool", "avg_pool"):
            _, src, out, k, s, p = op
            onnx_op = "MaxPool" if kind == "max_pool" else "AveragePool"
            nodes.append(helper.make_node(onnx_op, [src], [out], kernel_shape=[k, k], strides=[s, s],
                                          pads=[p, p, p, p]))
            c, h, wd = shapes[src]
            shapes[out] = (c, _pool_out(h, k, s, p), _pool_out(wd, k, s, p))
        elif kind == "add":
            _, a, b, out = op
            target = (max(shapes[a][0], shapes[b][0]), max(shapes[a][1], shapes[b][1]), max(shapes[a][2], shapes[b][2]))
            ins = []
            for src in (a, b):
                extra = [t - s for t, s in zip(target, shapes[src], strict=True)]
                if any(extra):    # dlib's add_prev: the smaller tensor counts as zero-padded at the end
                    pads = np.array([0, 0, 0, 0, 0] + extra, np.int64)
                    inits.append(numpy_helper.from_array(pads, src + "_pads"))
                    nodes.append(helper.make_node("Pad", [src, src + "_pads"], [src + "_padded"], mode="constant"))
                    src = src + "_padded"
                ins.append(src)
            nodes.append(helper.make_node("Add", ins, [out]))
            shapes[out] = target
        elif kind == "global_avg":
            _, src, out = op
            nodes += [helper.make_node("GlobalAveragePool", [src], [out + "_4d"]),
                      helper.make_node("Flatten", [out + "_4d"], [out], axis=1)]
            shapes[out] = (shapes[src][0], 1, 1)
        elif kind == "fc":
            _, src, out = op
            w = net.arrays[out + "_w"]
            if w.shape[0] != int(np.prod(shapes[src])):
                raise DlibModelError(f"{out}: {w.shape[0]} inputs, {shapes[src]} arriving")
            inits.append(numpy_helper.from_array(w, out + "_w"))
            if out + "_b" in net.arrays:
                inits.append(numpy_helper.from_array(net.arrays[out + "_b"], out + "_b"))
                nodes += [helper.make_node("MatMul", [src, out + "_w"], [out + "_mm"]),
                          helper.make_node("Add", [out + "_mm", out + "_b"], [out])]
            else:
                nodes.append(helper.make_node("MatMul", [src, out + "_w"], [out]))
            shapes[out] = (w.shape[1], 1, 1)
        else:
            raise DlibModelError(f"unknown op {kind}")
    last = net.ops[-1][2]
    nodes.append(helper.make_node("Identity", [last], ["descriptors"]))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP, CHIP, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", shapes[last][0]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="apel")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


# ----------------------------------------------------------------------------- running it

class DlibOnnxEncoder:
    """dlib's face descriptor network in ONNX Runtime. `embed` takes aligned 150x150 RGB uint8
    chips (what dlib.get_face_chip makes) and returns (n, 128) float32, as
    face_recognition_model_v1.compute_face_descriptor(chips) would (no jitter)."""

    def __init__(self, dat_path: str | os.PathLike[str], *, threads: int = 1):
        path = Path(dat_path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DlibModelError(f"cannot read {path}: {exc}") from exc
        mean, layers = parse_dat(data)
        net = _plan(mean, layers)
        model = build_onnx(net)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.dim = int(model.graph.output[0].type.tensor_type.shape.dim[1].dim_value)

    def embed(self, chips: Sequence[NDArray[Any]]) -> NDArray[np.float32]:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack([np.asarray(c) for c in chips])
        if batch.dtype != np.uint8 or batch.shape[1:] != (CHIP, CHIP, 3):
            raise ValueError(f"expected {CHIP}x{CHIP} RGB uint8 chips, got {batch.dtype} {batch.shape[1:]}")
        out: NDArray[np.float32] = self.session.run(None, {"chips": np.ascontiguousarray(batch)})[0]
        return out


def check_chip() -> np.ndarray:
    """A fixed, face-free but textured 150x150 RGB chip (gradients and a few discs) for the
    self-check: every channel and most of the range is exercised."""
    y, x = np.mgrid[0:CHIP, 0:CHIP].astype(np.float32)
    r = 128 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)
    g = 255 * (x + y) / (2 * CHIP)
    b = 128 + 120 * np.cos(np.hypot(x - 75, y - 60) / 7.0)
    img = np.stack([r, g, b], -1)
    for cx, cy, rad, col in ((50, 55, 12, (20, 30, 40)), (100, 55, 12, (20, 30, 40)), (75, 110, 20, (200, 90, 90))):
        img[np.hypot(x - cx, y - cy) < rad] = col
    return img.clip(0, 255).astype(np.uint8)


def verify_against_dlib(enc: DlibOnnxEncoder, tol: float = 1e-3) -> float:
    """Max |difference| between this encoder and dlib itself on `check_chip()`; raises
    DlibModelError above `tol`. Uses a throwaway dlib model."""
    chip = check_chip()
    ref = np.array(dlib.face_recognition_model_v1(str(enc.path)).compute_face_descriptor(chip), np.float32)
    got = enc.embed([chip])[0]
    diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
    if not diff <= tol:
        raise DlibModelError(f"converted network disagrees with dlib by {diff:.3g} (tolerance {tol})")
    return diff


_lock = threading.Lock()
_loaded: dict[tuple[Any, ...], DlibOnnxEncoder | Exception] = {}


def load(dat_path: str | os.PathLike[str], *, threads: int = 1, verify: bool = True) -> DlibOnnxEncoder:
    """A cached encoder per (file, size, mtime, threads); the first load checks it against dlib
    on one chip unless verify=False. Raises DlibModelError (or ImportError without
    onnxruntime/onnx); a failure is remembered, so it is paid and reported once."""
    p = Path(dat_path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns, threads, verify)
    except OSError as exc:
        raise DlibModelError(f"cannot read {p}: {exc}") from exc
    with _lock:
        hit = _loaded.get(key)
        if hit is None:
            try:
                enc = DlibOnnxEncoder(p, threads=threads)
                if verify:
                    verify_against_dlib(enc)
                hit = enc
            except Exception as exc:  # remembered and re-raised
                hit = exc
            _loaded[key] = hit
    if isinstance(hit, Exception):
        raise hit
    return hit
