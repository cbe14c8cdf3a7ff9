"""The engine's own operators that exported shards call: `lingualinked::attend` (causal attention) and
`lingualinked::linear_rows` (the decode rows' matrix product).

The engine implements it in C++ (src/runtime/attention_kernel.cc) with reduction orders fixed by the source, so a
position's numbers do not depend on how many rows share a call: decode, prefill and replay agree bit for bit. This
module declares the operator so TorchScript can compile calls to it, and gives a Python implementation (one row at
a time, plain torch ops) for running exported modules in this Python, e.g. in the exporter's tests; it is
numerically close to the engine's, not identical.

  attend(q: [T, n_heads, hd], k_cache: [n_kv, C, hd], v_cache: [n_kv, C, hd], start_pos: int, scale: float)
      -> [T, n_heads * hd]; row r attends to positions [0, start_pos + r], which the caches already hold.
"""
import torch

SCHEMA = "attend(Tensor q, Tensor k_cache, Tensor v_cache, int start_pos, float scale) -> Tensor"
# The decode rows' matrix product x W^T (src/runtime/linear_kernel.h): each row's numbers are independent of the other
# rows of the call, so the engine multiplies a lone decode row alone instead of padding it to 8. The Python
# implementation is torch's linear (close to the engine's numbers, not identical).
LINEAR_SCHEMA = "linear_rows(Tensor x, Tensor weight) -> Tensor"


def _linear_rows(x, weight):
    return torch.nn.functional.linear(x, weight)


def _attend_rows(q, k_cache, v_cache, start_pos, scale):
    t, n_heads, hd = q.shape
    n_kv = k_cache.size(0)
    group = n_heads // n_kv
    rows = []
    for r in range(t):
        end = start_pos + r + 1
        qr = q[r].reshape(n_kv, group, hd)
        scores = torch.matmul(qr, k_cache[:, :end].transpose(1, 2)) * scale
        rows.append(torch.matmul(torch.softmax(scores, -1), v_cache[:, :end]).reshape(1, n_heads * hd))
    return torch.cat(rows, 0)


def _register():
    try:
        lib = torch.library.Library("lingualinked", "DEF")
        lib.define(SCHEMA)
        lib.impl("attend", _attend_rows, "CPU")
        lib.define(LINEAR_SCHEMA)
        lib.impl("linear_rows", _linear_rows, "CPU")
        return lib
    except RuntimeError as e:  # already defined in this process (the engine's library loaded, or a re-import)
        if "already" in str(e) or "lingualinked::attend" in str(e):
            return None
        raise


_LIBRARY = _register()  # kept alive: the registration lasts as long as this object
