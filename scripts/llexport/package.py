"""Writes a lingualinked model package: one TorchScript lite-interpreter file per shard, the tokenizer and
manifest.json (written last, so a half-written folder is never a valid package). Format: docs/model-package.md."""
import hashlib
import json
import os

import torch

from .errors import ExportError
from .modules import Block, Embed, Head, Int8Embed
from .quant import ENGINES, linear_factory, module_memory_bytes

FORMAT_VERSION = 1
WIRE_BYTES = {"float32": 4, "float16": 2}


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _save(module, path):
    scripted = torch.jit.script(module)
    scripted._save_for_lite_interpreter(path)


def build_modules(src, weights="float32"):
    """The shard modules in model order (embed, blocks, head), as plain nn.Modules; `weights` is float32 or int8
    (int8: every linear layer and the embedding table, see quant.py)."""
    c, w = src.config, src.weights
    linear = linear_factory(weights)
    mods = [("embed", None, Int8Embed(w["tok_emb"]) if weights == "int8" else Embed(w["tok_emb"]))]
    for i, lw in enumerate(w["layers"]):
        mods.append(("block", i, Block(lw, c["n_heads"], c["n_kv_heads"], c["context_length"], c["rope_theta"],
                                       c["norm_eps"], linear=linear, weights=weights)))
    mods.append(("head", None, Head(w["final_norm"], w["classifier"], c["norm_eps"], linear=linear, weights=weights)))
    return mods


def write_package(src, out_dir, wire_dtype="float32", log=print, weights="float32"):
    c = src.config
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {out_dir}: {e.strerror}")
    manifest_path = os.path.join(out_dir, "manifest.json")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    d, ctx = c["dim"], c["context_length"]
    hd = d // c["n_heads"]
    wire = WIRE_BYTES[wire_dtype]
    shards, edges = [], []
    if weights == "int8":
        torch.backends.quantized.engine = "qnnpack" if "qnnpack" in torch.backends.quantized.supported_engines \
            else torch.backends.quantized.supported_engines[0]
    mods = build_modules(src, weights)
    for idx, (kind, layer, mod) in enumerate(mods):
        fname = f"shard-{idx:03d}-{kind}" + (f"-{layer:03d}" if layer is not None else "") + ".ptl"
        path = os.path.join(out_dir, fname)
        _save(mod, path)
        weight_bytes = module_memory_bytes(mod)
        if kind == "embed":
            flops, out_bytes, kv_bytes = float(d), d * wire, 0
            edges.append(dict(consumer=idx, tensor="tokens", producer="head_stage"))
        elif kind == "block":
            matmul = mod.wqkv.numel() + mod.wo.numel() + mod.w13.numel() + mod.w2.numel()  # weights, any type
            # weights once per token, plus attention over half the context on average (QK^T and AV)
            flops = 2.0 * matmul + 2.0 * 2 * c["n_heads"] * hd * (ctx / 2)
            out_bytes, kv_bytes = d * wire, 2 * c["n_kv_heads"] * hd * 4
            edges.append(dict(consumer=idx, tensor="hidden", producer=idx - 1))
            edges.append(dict(consumer=idx, tensor="start_pos", producer="head_stage"))
        else:
            flops, out_bytes, kv_bytes = 2.0 * mod.classifier.numel(), 4, 0  # the sampled token id goes home
            edges.append(dict(consumer=idx, tensor="hidden", producer=idx - 1))
        entry = dict(id=idx, kind=kind, file=fname, sha256=_sha256(path), file_bytes=os.path.getsize(path),
                     bytes=weight_bytes, flops_per_token=flops, out_bytes_per_token=out_bytes,
                     kv_bytes_per_token=kv_bytes, weight_dtype=weights)
        if layer is not None:
            entry["layer"] = layer
        shards.append(entry)
        log(f"  {fname}: {weight_bytes / 1e6:.1f} MB of weights")
    tok_name = "tokenizer.bin" if src.tokenizer_format == "llama2c" else "tokenizer.json"
    tok_path = os.path.join(out_dir, tok_name)
    data = src.tokenizer_bytes if src.tokenizer_bytes is not None else open(src.tokenizer_path, "rb").read()
    with open(tok_path, "wb") as f:
        f.write(data)
    manifest = dict(
        format="lingualinked-model", format_version=FORMAT_VERSION, name=src.name, architecture="llama",
        dtype="float32", wire_dtype=wire_dtype, weight_dtype=weights,
        hyperparameters=dict((k, c[k]) for k in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
                                                 "vocab_size", "context_length", "norm_eps", "rope_theta")),
        tokenizer=dict(file=tok_name, format=src.tokenizer_format, sha256=_sha256(tok_path), bos_id=src.bos_id,
                       eos_id=src.eos_id),
        shards=shards, transmission_map=edges, notes=src.notes)
    if weights == "int8":
        manifest["quantized_engines"] = list(ENGINES)
    tmp = manifest_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(tmp, manifest_path)
    return manifest
