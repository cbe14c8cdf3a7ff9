"""Synthetic models: random weights of any Llama shape, for tests and benchmarks at real sizes without real weights.
Output text is meaningless; speed, memory and numerics are real."""
import struct

import torch

from .errors import ExportError
from .readers import ModelSource, _check_config

PRESETS = {
    "stories260K": dict(dim=64, hidden_dim=172, n_layers=5, n_heads=8, n_kv_heads=4, vocab_size=512, context_length=512),
    "stories15M": dict(dim=288, hidden_dim=768, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000, context_length=256),
    "stories42M": dict(dim=512, hidden_dim=1376, n_layers=8, n_heads=8, n_kv_heads=8, vocab_size=32000, context_length=1024),
    "stories110M": dict(dim=768, hidden_dim=2048, n_layers=12, n_heads=12, n_kv_heads=12, vocab_size=32000,
                        context_length=1024),
    # TinyLlama-1.1B's shape: 22 layers, grouped-query attention with 4 kv heads.
    "tinyllama-1.1b": dict(dim=2048, hidden_dim=5632, n_layers=22, n_heads=32, n_kv_heads=4, vocab_size=32000,
                           context_length=2048),
    # An odd shape for numerics tests: GQA, non-power-of-two sizes.
    "odd": dict(dim=96, hidden_dim=250, n_layers=3, n_heads=6, n_kv_heads=2, vocab_size=300, context_length=64),
}


def parse_spec(spec: str):
    """'NAME' or 'NAME,key=value,...' or 'key=value,...' (all keys then needed)."""
    parts = [p for p in spec.split(",") if p]
    config = {}
    name = "synthetic"
    for p in parts:
        if "=" in p:
            k, _, v = p.partition("=")
            if k not in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "context_length"):
                raise ExportError(f"unknown synthetic key {k!r}")
            try:
                config[k] = int(v)
            except ValueError:
                raise ExportError(f"synthetic {k}={v!r} is not an integer")
        elif p in PRESETS:
            config = dict(PRESETS[p], **config)
            name = p
        else:
            raise ExportError(f"unknown synthetic preset {p!r} (known: {', '.join(PRESETS)})")
    for k in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "context_length"):
        if k not in config:
            raise ExportError(f"synthetic spec lacks {k}")
    config.update(norm_eps=1e-5, rope_theta=10000.0)
    _check_config(config)
    if config["vocab_size"] < 259:
        raise ExportError("synthetic vocab_size must be at least 259 (3 specials + 256 byte tokens)")
    return name, config


def synthetic_tokenizer(vocab: int) -> bytes:
    """A llama2.c-format tokenizer: <unk> <s> </s>, the 256 byte tokens, then letter pairs as merge pieces."""
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    letters = "etaoinshrdlucmfwypvbgkjqxz "
    extra = [a + b for a in letters for b in letters]
    i = 0
    while len(pieces) < vocab:
        pieces.append((extra[i] if i < len(extra) else f"tok{i}").encode())
        i += 1
    out = [struct.pack("<i", max(len(p) for p in pieces))]
    for idx, p in enumerate(pieces):
        score = -float(idx) if idx >= 259 else 0.0
        out.append(struct.pack("<fi", score, len(p)) + p)
    return b"".join(out)


def make_synthetic(spec: str, seed: int) -> ModelSource:
    name, c = parse_spec(spec)
    g = torch.Generator().manual_seed(seed)
    d, h, L, v = c["dim"], c["hidden_dim"], c["n_layers"], c["vocab_size"]
    kv = d * c["n_kv_heads"] // c["n_heads"]

    def mat(rows, cols):
        return torch.randn(rows, cols, generator=g) * (1.0 / cols ** 0.5)

    def norm():
        return 1.0 + 0.1 * torch.randn(d, generator=g)

    layers = [dict(attn_norm=norm(), wq=mat(d, d), wk=mat(kv, d), wv=mat(kv, d), wo=mat(d, d), ffn_norm=norm(),
                   w1=mat(h, d), w2=mat(d, h), w3=mat(h, d)) for _ in range(L)]
    tok = torch.randn(v, d, generator=g)
    return ModelSource(name=f"synthetic-{name}", config=c,
                       weights=dict(tok_emb=tok, layers=layers, final_norm=norm(), classifier=mat(v, d)),
                       tokenizer_bytes=synthetic_tokenizer(v), tokenizer_format="llama2c",
                       notes=["synthetic: random weights, the text it produces is meaningless"])
