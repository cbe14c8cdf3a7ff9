"""An eager, cache-free Llama forward written independently of the shard modules (complex-number RoPE,
repeat_interleave for grouped-query attention, full recomputation every step). The exporter can write its logits
next to a package so that the C++ engine's prefill and every cached decode step are checked against it."""
import json
import os

import torch
import torch.nn.functional as F


def _rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _rope(x, theta):
    # x [T, heads, hd]; rotate interleaved pairs as complex numbers
    t, heads, hd = x.shape
    freqs = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    angles = torch.outer(torch.arange(t, dtype=torch.float64), freqs)
    rot = torch.polar(torch.ones_like(angles), angles)[:, None, :]
    xc = torch.view_as_complex(x.double().reshape(t, heads, hd // 2, 2).contiguous())
    return torch.view_as_real(xc * rot).reshape(t, heads, hd).float()


@torch.no_grad()
def eager_logits(src, tokens):
    """Logits [T, vocab] for every position of `tokens`, recomputed from scratch."""
    c, w = src.config, src.weights
    nh, nkv, eps = c["n_heads"], c["n_kv_heads"], c["norm_eps"]
    x = w["tok_emb"][torch.tensor(tokens)]
    t, d = x.shape
    hd = d // nh
    mask = torch.full((t, t), float("-inf")).triu(1)
    for lw in w["layers"]:
        h = _rms(x, lw["attn_norm"], eps)
        q = _rope((h @ lw["wq"].T).reshape(t, nh, hd), c["rope_theta"])
        k = _rope((h @ lw["wk"].T).reshape(t, nkv, hd), c["rope_theta"])
        v = (h @ lw["wv"].T).reshape(t, nkv, hd)
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        att = torch.einsum("qhd,khd->hqk", q, k) / hd ** 0.5 + mask
        out = torch.einsum("hqk,khd->qhd", att.softmax(-1), v).reshape(t, d)
        x = x + out @ lw["wo"].T
        h = _rms(x, lw["ffn_norm"], eps)
        x = x + (F.silu(h @ lw["w1"].T) * (h @ lw["w3"].T)) @ lw["w2"].T
    return _rms(x, w["final_norm"], eps) @ w["classifier"].T


def write_reference(src, out_dir, tokens, prefill):
    """reference.json: the prompt (first `prefill` tokens) and the logits the engine must produce after the prefill
    and after each following decode step."""
    logits = eager_logits(src, tokens)
    steps = [logits[i].tolist() for i in range(prefill - 1, len(tokens))]
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(dict(tokens=tokens, prefill=prefill, logits=steps), f)
