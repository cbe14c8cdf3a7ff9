"""Int8 weights (`export-model --quantize int8`, docs/model-package.md "Int8 packages").

Linear layers hold int8 weights with one scale per output channel (symmetric, computed by torch's own per-channel
observer) in torch's quantized packed-params object, and run with torch's dynamic quantized linear
(`quantized::linear_dynamic`), which the lite interpreter has on every engine Debian's torch ships (qnnpack, onednn).
The packed object is serialized engine-neutrally (int8 tensor + scales) and prepacked for the runtime's engine when
a shard loads.

Row independence: the dynamic linear quantizes its input with ONE scale for the whole tensor, so a session's numbers
would depend on the other sessions of its decode step. Int8Linear therefore scales each row to max |x| = 1 and appends
one row holding +1 and -1: the tensor's range is then always exactly [-1, 1], each row is quantized with its own
scale (per-row activation quantization), and the integer products are exact — a row's output is bit-identical
whatever the other rows hold and wherever it sits (test/exporter/test_exporter.py pins it).
"""
from typing import List

import torch
from torch import Tensor, nn

from . import attention  # noqa: F401  (declares torch.ops.lingualinked.linear_rows)
from .errors import ExportError

ENGINES = ["qnnpack", "onednn"]


def _qparams(weight: Tensor, axis: int):
    """Symmetric int8 scales per slice along `axis`, from torch's per-channel observer."""
    if not bool(torch.isfinite(weight).all()):
        raise ExportError("int8: a weight matrix has non-finite values (no valid scale)")
    observer = torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=axis, dtype=torch.qint8,
                                                             qscheme=torch.per_channel_symmetric)
    observer(weight)
    scales, zero_points = observer.calculate_qparams()
    if not bool(torch.isfinite(scales).all()) or not bool((scales > 0).all()):
        raise ExportError("int8: a weight matrix has non-finite values (no valid scale)")
    return scales, zero_points


def quantize_matrix(weight: Tensor) -> Tensor:
    """[out, in] float32 -> torch qint8 tensor with per-output-channel scales."""
    w = weight.contiguous().float()
    scales, zero_points = _qparams(w, 0)
    return torch.quantize_per_channel(w, scales.double(), zero_points.long(), 0, torch.qint8)


class DenseLinear(nn.Module):
    """fp32 linear layer: y = x W^T."""

    def __init__(self, weight: Tensor):
        super().__init__()
        self.register_buffer("weight", weight.contiguous())

    def forward(self, x: Tensor) -> Tensor:
        return torch.nn.functional.linear(x, self.weight)

    @torch.jit.export
    def rows(self, x: Tensor) -> Tensor:
        """Decode rows: the engine's row-invariant product (a row's numbers do not depend on the other rows)."""
        return torch.ops.lingualinked.linear_rows(x, self.weight)

    @torch.jit.export
    def in_features(self) -> int:
        return self.weight.size(1)

    @torch.jit.export
    def scales_ok(self) -> bool:
        return True

    @torch.jit.ignore
    def numel(self) -> int:
        return self.weight.numel()

    @torch.jit.ignore
    def memory_bytes(self) -> int:
        return self.weight.numel() * 4


class Int8Linear(nn.Module):
    """int8 weights, per-output-channel scales; per-row dynamic activation quantization (see the module doc)."""

    def __init__(self, weight: Tensor):
        super().__init__()
        out_features, in_features = weight.shape
        if in_features < 2:
            raise ExportError("int8: a linear layer needs at least 2 inputs")
        self.packed = torch.ops.quantized.linear_prepack(quantize_matrix(weight), None)
        span = torch.zeros(1, in_features)
        span[0, 0], span[0, 1] = 1.0, -1.0
        self.register_buffer("span", span)
        self._shape = (out_features, in_features)

    def forward(self, x: Tensor) -> Tensor:
        rows = x.size(0)
        s = x.abs().amax(-1, keepdim=True).clamp(min=1e-30)
        y = torch.ops.quantized.linear_dynamic(torch.cat([x / s, self.span], 0), self.packed, False)
        return y[:rows] * s

    @torch.jit.export
    def rows(self, x: Tensor) -> Tensor:
        """Decode rows: forward already quantizes each row on its own (see the module doc)."""
        return self.forward(x)

    @torch.jit.export
    def in_features(self) -> int:
        return self.span.size(1)

    @torch.jit.export
    def scales_ok(self) -> bool:
        scales = torch.ops.quantized.linear_unpack(self.packed)[0].q_per_channel_scales()
        return bool(torch.isfinite(scales).all()) and bool((scales > 0).all()) and bool((scales < 1e6).all())

    @torch.jit.ignore
    def numel(self) -> int:
        return self._shape[0] * self._shape[1]

    @torch.jit.ignore
    def memory_bytes(self) -> int:
        # int8 weights once (on qnnpack the runtime releases the unpacked copy after prepacking; onednn keeps it,
        # docs/model-package.md) + per-channel scale (double) and zero point (int64); the span row is a buffer
        return self._shape[0] * self._shape[1] + 16 * self._shape[0]


class Int8Embedding(nn.Module):
    """int8 token embedding with one scale per token row; a lookup dequantizes only the rows it reads."""

    def __init__(self, weight: Tensor):
        super().__init__()
        w = weight.contiguous().float()
        scales, zero_points = _qparams(w, 0)
        q = torch.quantize_per_channel(w, scales.double(), zero_points.long(), 0, torch.qint8)
        self.register_buffer("weight", q.int_repr().contiguous())
        self.register_buffer("scales", scales.float().unsqueeze(1).contiguous())

    def forward(self, tokens: Tensor) -> Tensor:
        return self.weight.index_select(0, tokens).to(torch.float32) * self.scales.index_select(0, tokens)

    @torch.jit.export
    def scales_ok(self) -> bool:
        return bool(torch.isfinite(self.scales).all()) and bool((self.scales > 0).all())


def linear_factory(weights: str):
    if weights == "float32":
        return DenseLinear
    if weights == "int8":
        return Int8Linear
    raise ExportError(f"unknown weight type {weights!r} (float32 or int8)")


def linears(module: nn.Module) -> List[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (DenseLinear, Int8Linear))]


def module_memory_bytes(module: nn.Module) -> int:
    """What a shard holds in memory once loaded: buffers, plus each int8 linear's packed weights."""
    lin = [m for m in module.modules() if isinstance(m, Int8Linear)]
    return sum(b.numel() * b.element_size() for b in module.buffers()) + sum(m.memory_bytes() for m in lin)
