"""Test helper: rewrites the head shard of an int8 stories260K package with one int8 scale that is not a finite
positive number, and updates the manifest's sha256 and file_bytes so that only the runtime's scale check can catch
it (as if an exporter bug or a crafted package had produced it). Usage: corrupt_int8_scale.py PKG CKPT TOK VALUE"""
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from llexport.package import build_modules  # noqa: E402
from llexport.readers import read_llama2c  # noqa: E402

pkg, ckpt, tok, value = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
torch.backends.quantized.engine = "qnnpack"
head = build_modules(read_llama2c(ckpt, tok), "int8")[-1][2]
q = torch.ops.quantized.linear_unpack(head.classifier.packed)[0]
scales = q.q_per_channel_scales().clone()
scales[7] = value
bad = torch._make_per_channel_quantized_tensor(q.int_repr(), scales, q.q_per_channel_zero_points(), 0)
head.classifier.packed = torch.ops.quantized.linear_prepack(bad, None)
manifest_path = os.path.join(pkg, "manifest.json")
m = json.load(open(manifest_path))
shard = m["shards"][-1]
path = os.path.join(pkg, shard["file"])
torch.jit.script(head)._save_for_lite_interpreter(path)
shard["sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
shard["file_bytes"] = os.path.getsize(path)
json.dump(m, open(manifest_path, "w"))
