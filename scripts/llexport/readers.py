"""Readers of model sources: llama2.c checkpoints (legacy v0 and v1), Hugging Face Llama folders (safetensors read
directly), and synthetic random weights. Each returns a ModelSource with weights in one layout:
  tok_emb [V, D]; per layer: attn_norm [D], wq [D, D], wk [KV, D], wv [KV, D], wo [D, D], ffn_norm [D],
  w1 [H, D], w2 [D, H], w3 [H, D]; final_norm [D]; classifier [V, D]. Matrices are [out, in]; RoPE pairs interleaved.
Every size read from a file is checked against the file's length before anything is allocated from it.
"""
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from .errors import ExportError

LLAMA2C_V1_MAGIC = 0x616B3432  # "ak42"


@dataclass
class ModelSource:
    name: str
    config: Dict[str, float]
    weights: Dict[str, object]  # tensors, and per-layer lists of dicts under "layers"
    tokenizer_path: Optional[str] = None
    tokenizer_bytes: Optional[bytes] = None
    tokenizer_format: str = "llama2c"
    bos_id: int = 1
    eos_id: int = 2
    notes: List[str] = field(default_factory=list)


def _check_config(c):
    for key in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "context_length"):
        if not isinstance(c[key], int) or c[key] <= 0 or c[key] > 1 << 24:
            raise ExportError(f"bad hyperparameter {key}={c[key]}")
    if c["dim"] % c["n_heads"]:
        raise ExportError(f"dim {c['dim']} is not a multiple of n_heads {c['n_heads']}")
    if c["n_heads"] % c["n_kv_heads"]:
        raise ExportError(f"n_heads {c['n_heads']} is not a multiple of n_kv_heads {c['n_kv_heads']}")
    if (c["dim"] // c["n_heads"]) % 2:
        raise ExportError("head size must be even for rotary embeddings")


def _expected_floats(c, shared):
    d, h, l, v = c["dim"], c["hidden_dim"], c["n_layers"], c["vocab_size"]
    kv = d * c["n_kv_heads"] // c["n_heads"]
    hs = d // c["n_heads"]
    n = v * d + l * d + l * d * d + 2 * l * kv * d + l * d * d + l * d + 3 * l * h * d + d
    return n, (0 if shared else v * d), c["context_length"] * hs // 2 * 2


def read_llama2c(path: str, tokenizer_path: str) -> ModelSource:
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise ExportError(f"cannot read checkpoint {path}: {e.strerror}")
    with f:
        head = f.read(8)
        if len(head) < 8:
            raise ExportError(f"{path}: truncated header")
        magic, version = struct.unpack("<Ii", head)
        if magic == LLAMA2C_V1_MAGIC:
            if version != 1:
                raise ExportError(f"{path}: llama2.c checkpoint version {version} is not supported (only 0 and 1, fp32)")
            hdr = f.read(7 * 4 + 1)
            if len(hdr) < 29:
                raise ExportError(f"{path}: truncated header")
            dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", hdr[:28])
            shared = hdr[28] != 0
            offset, legacy = 256, False
        else:
            f.seek(0)
            hdr = f.read(28)
            if len(hdr) < 28:
                raise ExportError(f"{path}: truncated header")
            dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", hdr)
            if not (0 < dim <= 65536 and 0 < layers <= 4096 and 0 < heads <= dim and seq > 0 and vocab != 0):
                raise ExportError(f"{path}: not a llama2.c checkpoint (bad magic / implausible header)")
            shared = vocab > 0
            vocab = abs(vocab)
            offset, legacy = 28, True
        config = dict(dim=dim, hidden_dim=hidden, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads,
                      vocab_size=vocab, context_length=seq, norm_eps=1e-5, rope_theta=10000.0)
        _check_config(config)
        body, cls, rope = _expected_floats(config, shared)
        need = offset + 4 * (body + cls + (rope if legacy else 0))
        if size < need:
            raise ExportError(f"{path}: truncated: {size} bytes, the header implies {need}")
        f.seek(offset)
        data = torch.frombuffer(bytearray(f.read(need - offset)), dtype=torch.float32)
    d, h, L, v = dim, hidden, layers, vocab
    kv = d * kv_heads // heads
    pos = 0

    def take(*shape):
        nonlocal pos
        n = 1
        for s in shape:
            n *= s
        t = data[pos:pos + n].reshape(shape).clone()
        pos += n
        return t

    if legacy:
        tok = take(v, d)
        attn_norm, wq, wk, wv, wo = take(L, d), take(L, d, d), take(L, kv, d), take(L, kv, d), take(L, d, d)
        ffn_norm, w1, w2, w3 = take(L, d), take(L, h, d), take(L, d, h), take(L, h, d)
        final = take(d)
        pos += rope  # legacy RoPE tables: recomputed instead
    else:
        attn_norm, ffn_norm, final, tok = take(L, d), take(L, d), take(d), take(v, d)
        wq, wk, wv, wo = take(L, d, d), take(L, kv, d), take(L, kv, d), take(L, d, d)
        w1, w2, w3 = take(L, h, d), take(L, d, h), take(L, h, d)
    classifier = tok if shared else take(v, d)
    layers_w = [dict(attn_norm=attn_norm[i], wq=wq[i], wk=wk[i], wv=wv[i], wo=wo[i], ffn_norm=ffn_norm[i],
                     w1=w1[i], w2=w2[i], w3=w3[i]) for i in range(L)]
    name = os.path.splitext(os.path.basename(path))[0]
    check_llama2c_tokenizer(tokenizer_path, vocab)
    return ModelSource(name=name, config=config,
                       weights=dict(tok_emb=tok, layers=layers_w, final_norm=final, classifier=classifier),
                       tokenizer_path=tokenizer_path, tokenizer_format="llama2c")


def check_llama2c_tokenizer(path: str, vocab: int):
    try:
        blob = open(path, "rb").read()
    except OSError as e:
        raise ExportError(f"cannot read tokenizer {path}: {e.strerror}")
    if len(blob) < 4:
        raise ExportError(f"{path}: truncated tokenizer")
    pos = 4
    for i in range(vocab):
        if pos + 8 > len(blob):
            raise ExportError(f"{path}: truncated tokenizer (token {i} of {vocab})")
        (length,) = struct.unpack_from("<i", blob, pos + 4)
        if length < 0 or pos + 8 + length > len(blob):
            raise ExportError(f"{path}: truncated or corrupt tokenizer at token {i}")
        pos += 8 + length


# --- Hugging Face --------------------------------------------------------------------------------------------------
_SAFETENSORS_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def _read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ExportError(f"{path}: truncated safetensors header")
        (hlen,) = struct.unpack("<Q", raw)
        if hlen > min(size - 8, 100 << 20):
            raise ExportError(f"{path}: bad safetensors header length")
        try:
            header = json.loads(f.read(hlen))
        except ValueError:
            raise ExportError(f"{path}: safetensors header is not JSON")
        base = 8 + hlen
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
            if dtype is None:
                raise ExportError(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')}")
            start, end = info["data_offsets"]
            n = 1
            for s in info["shape"]:
                n *= s
            if end - start != n * dtype[1] or base + end > size or start < 0:
                raise ExportError(f"{path}: tensor {name}: shape disagrees with its byte range (truncated file?)")
            f.seek(base + start)
            buf = bytearray(f.read(end - start))
            out[name] = torch.frombuffer(buf, dtype=dtype[0]).reshape(info["shape"]).to(torch.float32)
        return out


def read_hf(folder: str) -> ModelSource:
    cfg_path = os.path.join(folder, "config.json")
    try:
        cfg = json.load(open(cfg_path))
    except (OSError, ValueError) as e:
        raise ExportError(f"{cfg_path}: cannot read config ({e})")
    arch = (cfg.get("architectures") or [cfg.get("model_type", "?")])[0]
    if cfg.get("model_type") != "llama" and "Llama" not in str(arch):
        raise ExportError(f"unsupported architecture {arch} (only Llama-family models)")
    d = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    config = dict(dim=d, hidden_dim=cfg["intermediate_size"], n_layers=cfg["num_hidden_layers"], n_heads=heads,
                  n_kv_heads=cfg.get("num_key_value_heads", heads), vocab_size=cfg["vocab_size"],
                  context_length=cfg.get("max_position_embeddings", 2048), norm_eps=cfg.get("rms_norm_eps", 1e-5),
                  rope_theta=cfg.get("rope_theta", 10000.0))
    _check_config(config)
    files = []
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    elif os.path.exists(os.path.join(folder, "model.safetensors")):
        files = ["model.safetensors"]
    else:
        raise ExportError(f"{folder}: no model.safetensors (or index)")
    t = {}
    for name in files:
        t.update(_read_safetensors(os.path.join(folder, os.path.basename(name))))

    def get(name, shape):
        if name not in t:
            raise ExportError(f"{folder}: missing tensor {name}")
        if list(t[name].shape) != list(shape):
            raise ExportError(f"{folder}: tensor {name} has shape {list(t[name].shape)}, expected {list(shape)}")
        return t[name]

    def unpermute(w, n_heads):
        # HF stores q/k for rotate-half RoPE; lingualinked (like llama2.c) rotates interleaved pairs.
        rows, cols = w.shape
        return w.reshape(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)

    L, h, v, kvh = config["n_layers"], config["hidden_dim"], config["vocab_size"], config["n_kv_heads"]
    kv = d * kvh // heads
    layers = []
    for i in range(L):
        p = f"model.layers.{i}."
        layers.append(dict(
            attn_norm=get(p + "input_layernorm.weight", [d]),
            wq=unpermute(get(p + "self_attn.q_proj.weight", [d, d]), heads),
            wk=unpermute(get(p + "self_attn.k_proj.weight", [kv, d]), kvh),
            wv=get(p + "self_attn.v_proj.weight", [kv, d]), wo=get(p + "self_attn.o_proj.weight", [d, d]),
            ffn_norm=get(p + "post_attention_layernorm.weight", [d]),
            w1=get(p + "mlp.gate_proj.weight", [h, d]), w2=get(p + "mlp.down_proj.weight", [d, h]),
            w3=get(p + "mlp.up_proj.weight", [h, d])))
    tok = get("model.embed_tokens.weight", [v, d])
    classifier = t.get("lm_head.weight", tok) if not cfg.get("tie_word_embeddings", False) else tok
    tok_path = os.path.join(folder, "tokenizer.json")
    if not os.path.exists(tok_path):
        raise ExportError(f"{folder}: no tokenizer.json")
    return ModelSource(name=os.path.basename(os.path.normpath(folder)), config=config,
                       weights=dict(tok_emb=tok, layers=layers, final_norm=get("model.norm.weight", [d]),
                                    classifier=get("lm_head.weight", [v, d]) if "lm_head.weight" in t else classifier),
                       tokenizer_path=tok_path, tokenizer_format="hf",
                       bos_id=cfg.get("bos_token_id", 1) or 1, eos_id=cfg.get("eos_token_id", 2) or 2)
