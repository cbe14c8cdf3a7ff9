"""TorchScript shard modules: the code that runs inside lingualinked's engine.

Calling convention (docs/model-package.md):
  embed: forward(tokens: int64 [T]) -> hidden float32 [T, dim]
  block: forward(x: [T, dim], start_pos: int, k_cache: [n_kv, C, hd], v_cache: [n_kv, C, hd]) -> [T, dim]
         writes the step's keys/values into the caches in place (slice assignment), attends over [0, start_pos+T)
  head:  forward(x: [T, dim]) -> logits float32 [vocab] of the last position

Batched decode (one token for each of B sessions, the weights read once for all of them):
  block: decode_batch(x: [B, dim], positions: List[int], k_caches: List[Tensor], v_caches: List[Tensor]) -> [B, dim]
         (decode rows multiply with the engine's linear_rows; rows_invariant() -> True says so: no padding needed)
  block: replay_rows(x: [R, dim], start_pos: int, n: int, k_cache, v_cache, gemm_rows: int) -> [R, dim]: n
         consecutive positions of one session, each bit-identical to its own decode step;
         wide_rows_exact(rows, decode_rows) -> bool says whether gemm_rows may exceed the decode rows
  head:  logits_rows(x: [B, dim]) -> [B, vocab]
  embed: forward(tokens [B]) already is one.

The decode path uses few, plain ops (per-op overhead dominates small models): fused QKV and W1|W3 projections,
RoPE from precomputed tables, grouped-query attention by reshaping queries instead of repeating keys.

Linear layers are submodules (quant.DenseLinear, or quant.Int8Linear for int8 packages); every shard also exports
weight_type() -> "float32" | "int8" and scales_ok() -> bool, which the engine checks when it loads the shard.
"""
import math
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import attention  # noqa: F401  (declares torch.ops.lingualinked.attend)
from .quant import DenseLinear, Int8Embedding


def rope_tables(head_dim: int, context: int, theta: float):
    """cos/sin [context, head_dim/2], computed as llama2.c's run.c does (float32, interleaved pairs)."""
    index = torch.arange(0, head_dim, 2, dtype=torch.float32)
    freq = 1.0 / torch.pow(torch.tensor(theta, dtype=torch.float32), index / head_dim)
    pos = torch.arange(context, dtype=torch.float32)
    angles = pos[:, None] * freq[None, :]
    return torch.cos(angles), torch.sin(angles)


class Embed(nn.Module):
    weights: str

    def __init__(self, weight: Tensor):
        super().__init__()
        self.weights = "float32"
        self.register_buffer("weight", weight.contiguous())

    def forward(self, tokens: Tensor) -> Tensor:
        return F.embedding(tokens, self.weight)

    @torch.jit.export
    def weight_type(self) -> str:
        return self.weights

    @torch.jit.export
    def scales_ok(self) -> bool:
        return True


class Int8Embed(nn.Module):
    weights: str

    def __init__(self, weight: Tensor):
        super().__init__()
        self.weights = "int8"
        self.table = Int8Embedding(weight)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.table(tokens)

    @torch.jit.export
    def weight_type(self) -> str:
        return self.weights

    @torch.jit.export
    def scales_ok(self) -> bool:
        return self.table.scales_ok()


class Block(nn.Module):
    n_heads: int
    n_kv_heads: int
    head_dim: int
    group: int
    hidden_dim: int
    eps: float
    scale: float
    weights: str

    def __init__(self, w: Dict[str, Tensor], n_heads: int, n_kv_heads: int, context: int, theta: float, eps: float,
                 linear=DenseLinear, weights: str = "float32"):
        super().__init__()
        self.weights = weights
        dim = w["wq"].shape[1]
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = dim // n_heads
        self.group = n_heads // n_kv_heads
        self.hidden_dim = w["w1"].shape[0]
        self.eps = eps
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.register_buffer("attn_norm", w["attn_norm"].contiguous())
        self.register_buffer("ffn_norm", w["ffn_norm"].contiguous())
        self.wqkv = linear(torch.cat([w["wq"], w["wk"], w["wv"]], 0))
        self.wo = linear(w["wo"])
        self.w13 = linear(torch.cat([w["w1"], w["w3"]], 0))
        self.w2 = linear(w["w2"])
        cos, sin = rope_tables(self.head_dim, context, theta)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def _attend(self, qkv: Tensor, start_pos: int, k_cache: Tensor, v_cache: Tensor) -> Tensor:
        """Attention of one session's step: qkv [T, (nh+2nkv)*hd] -> [T, nh*hd]; updates the caches in place."""
        t = qkv.size(0)
        nh = self.n_heads
        nkv = self.n_kv_heads
        hd = self.head_dim
        end = start_pos + t
        q = qkv[:, : nh * hd].reshape(t, nh, hd // 2, 2)
        k = qkv[:, nh * hd : (nh + nkv) * hd].reshape(t, nkv, hd // 2, 2)
        v = qkv[:, (nh + nkv) * hd :].reshape(t, nkv, hd)
        cos = self.cos[start_pos:end].unsqueeze(1)
        sin = self.sin[start_pos:end].unsqueeze(1)
        q0, q1 = q[..., 0], q[..., 1]
        k0, k1 = k[..., 0], k[..., 1]
        q = torch.stack([q0 * cos - q1 * sin, q0 * sin + q1 * cos], -1).reshape(t, nkv, self.group, hd)
        k = torch.stack([k0 * cos - k1 * sin, k0 * sin + k1 * cos], -1).reshape(t, nkv, hd)
        k_cache[:, start_pos:end] = k.transpose(0, 1)
        v_cache[:, start_pos:end] = v.transpose(0, 1)
        # Causal attention by the engine's own operator (attention.py): a row's numbers depend only on its position,
        # so decode, prefill and replay agree bit for bit.
        return torch.ops.lingualinked.attend(q.reshape(t, nh, hd).contiguous(), k_cache, v_cache, start_pos,
                                             self.scale)

    def _finish(self, x: Tensor, attended: Tensor) -> Tensor:
        x = x + self.wo(attended)
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.ffn_norm
        h13 = self.w13(h)
        return x + self.w2(F.silu(h13[:, : self.hidden_dim]) * h13[:, self.hidden_dim :])

    def _finish_rows(self, x: Tensor, attended: Tensor) -> Tensor:
        """_finish for decode rows: the row-invariant products (a row's numbers do not depend on the others)."""
        x = x + self.wo.rows(attended)
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.ffn_norm
        h13 = self.w13.rows(h)
        return x + self.w2.rows(F.silu(h13[:, : self.hidden_dim]) * h13[:, self.hidden_dim :])

    def forward(self, x: Tensor, start_pos: int, k_cache: Tensor, v_cache: Tensor) -> Tensor:
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.attn_norm
        return self._finish(x, self._attend(self.wqkv(h), start_pos, k_cache, v_cache))

    @torch.jit.export
    def decode_batch(self, x: Tensor, positions: List[int], k_caches: List[Tensor], v_caches: List[Tensor]) -> Tensor:
        # Rows multiply with linear_rows, so a session's numbers do not depend on how many others share its step (x may
        # still hold zero-padding rows beyond the sessions; the engine pads only packages exported before it).
        n = len(positions)
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.attn_norm
        qkv = self.wqkv.rows(h)
        rows: List[Tensor] = []
        for i in range(n):
            rows.append(self._attend(qkv[i : i + 1], positions[i], k_caches[i], v_caches[i]))
        if x.size(0) > n:
            rows.append(torch.zeros(x.size(0) - n, self.n_heads * self.head_dim))
        return self._finish_rows(x, torch.cat(rows, 0))

    @torch.jit.export
    def replay_rows(self, x: Tensor, start_pos: int, n: int, k_cache: Tensor, v_cache: Tensor, gemm_rows: int) -> Tensor:
        # Rows [0, n) of x are one session's consecutive positions from start_pos, the rest zero padding. Each row
        # comes out as its own decode step computed it: attention and linear_rows are row-independent by construction
        # (gemm_rows only bounds the rows per call).
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.attn_norm
        parts: List[Tensor] = []
        for g in range(0, x.size(0), gemm_rows):
            parts.append(self.wqkv.rows(h[g : g + gemm_rows]))
        attended = self._attend(torch.cat(parts, 0)[:n], start_pos, k_cache, v_cache)
        if x.size(0) > n:
            attended = torch.cat([attended, torch.zeros(x.size(0) - n, self.n_heads * self.head_dim)], 0)
        out: List[Tensor] = []
        for g in range(0, x.size(0), gemm_rows):
            out.append(self._finish_rows(x[g : g + gemm_rows], attended[g : g + gemm_rows]))
        return torch.cat(out, 0)

    @torch.jit.export
    def wide_rows_exact(self, rows: int, decode_rows: int) -> bool:
        """Whether every linear of this block gives each row the same bits in a call of `rows` rows as in calls of
        `decode_rows`: true of OpenBLAS's large kernels, false of its small-matrix path (small models)."""
        torch.manual_seed(0)
        inputs = [torch.randn(rows, self.wqkv.in_features()), torch.randn(rows, self.wo.in_features()),
                  torch.randn(rows, self.w13.in_features()), torch.randn(rows, self.w2.in_features())]
        outputs = [self.wqkv(inputs[0]), self.wo(inputs[1]), self.w13(inputs[2]), self.w2(inputs[3])]
        for g in range(0, rows, decode_rows):
            narrow = [self.wqkv(inputs[0][g : g + decode_rows]), self.wo(inputs[1][g : g + decode_rows]),
                      self.w13(inputs[2][g : g + decode_rows]), self.w2(inputs[3][g : g + decode_rows])]
            for i in range(4):
                if not torch.equal(narrow[i], outputs[i][g : g + decode_rows]):
                    return False
        return True

    @torch.jit.export
    def rows_invariant(self) -> bool:
        """Decode rows multiply with linear_rows: the engine need not pad them (docs/model-package.md)."""
        return True

    @torch.jit.export
    def weight_type(self) -> str:
        return self.weights

    @torch.jit.export
    def scales_ok(self) -> bool:
        return self.wqkv.scales_ok() and self.wo.scales_ok() and self.w13.scales_ok() and self.w2.scales_ok()


class Head(nn.Module):
    eps: float
    weights: str

    def __init__(self, norm: Tensor, classifier: Tensor, eps: float, linear=DenseLinear, weights: str = "float32"):
        super().__init__()
        self.eps = eps
        self.weights = weights
        self.register_buffer("norm", norm.contiguous())
        self.classifier = linear(classifier)

    def forward(self, x: Tensor) -> Tensor:
        last = x[-1:]
        h = last * torch.rsqrt(last.pow(2).mean(-1, keepdim=True) + self.eps) * self.norm
        return self.classifier(h).reshape(-1)

    @torch.jit.export
    def logits_rows(self, x: Tensor) -> Tensor:
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.norm
        return self.classifier.rows(h)

    @torch.jit.export
    def rows_invariant(self) -> bool:
        return True

    @torch.jit.export
    def weight_type(self) -> str:
        return self.weights

    @torch.jit.export
    def scales_ok(self) -> bool:
        return self.classifier.scales_ok()
