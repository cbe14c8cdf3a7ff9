"""Exporter tests (run by test/integration/exporter.sh with /usr/bin/python3): bad input gives one-line errors,
the Hugging Face and llama2.c v1 paths produce the same shards as the legacy path for the same weights."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import torch
from torch.jit.mobile import _load_for_lite_interpreter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paths import CKPT, EXPORT, MODELS, ROOT, TOK  # noqa: E402,F401
from llexport.readers import read_llama2c  # noqa: E402


def run(args):
    return subprocess.run(EXPORT + args, capture_output=True, text=True)


def final_logits(pkg, tokens):
    m = json.load(open(os.path.join(pkg, "manifest.json")))
    hp = m["hyperparameters"]
    hd = hp["dim"] // hp["n_heads"]
    mods = [_load_for_lite_interpreter(os.path.join(pkg, s["file"])) for s in m["shards"]]
    x = mods[0](torch.tensor(tokens))
    for b in mods[1:-1]:
        k = torch.zeros(hp["n_kv_heads"], hp["context_length"], hd)
        x = b(x, 0, k, torch.zeros_like(k))
    return mods[-1](x)


class ExporterErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def assertOneLineError(self, result, text):
        self.assertNotEqual(result.returncode, 0)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(text, lines[0])

    def test_wrong_magic_is_rejected(self):
        bad = os.path.join(self.tmp, "bad.bin")
        open(bad, "wb").write(b"\xff" * 4096)
        self.assertOneLineError(run(["--from", "llama2c", bad, "--tokenizer", TOK, "--out", self.tmp + "/o"]),
                                "not a llama2.c checkpoint")

    def test_truncated_checkpoint_is_rejected(self):
        cut = os.path.join(self.tmp, "cut.bin")
        open(cut, "wb").write(open(CKPT, "rb").read()[:50000])
        self.assertOneLineError(run(["--from", "llama2c", cut, "--tokenizer", TOK, "--out", self.tmp + "/o"]),
                                "truncated")

    def test_truncated_tokenizer_is_rejected(self):
        cut = os.path.join(self.tmp, "tok.bin")
        open(cut, "wb").write(open(TOK, "rb").read()[:3000])
        self.assertOneLineError(run(["--from", "llama2c", CKPT, "--tokenizer", cut, "--out", self.tmp + "/o"]),
                                "truncated")

    def test_unsupported_architecture_is_rejected(self):
        folder = os.path.join(self.tmp, "gpt2")
        os.makedirs(folder)
        json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, open(folder + "/config.json", "w"))
        self.assertOneLineError(run(["--from", "hf", folder, "--out", self.tmp + "/o"]), "unsupported architecture")

    def test_bad_synthetic_spec_is_rejected(self):
        self.assertOneLineError(run(["--synthetic", "dim=63,hidden_dim=10,n_layers=1,n_heads=2,n_kv_heads=1,"
                                     "vocab_size=300,context_length=8", "--out", self.tmp + "/o"]), "multiple")
        self.assertOneLineError(run(["--synthetic", "nonsense", "--out", self.tmp + "/o"]), "unknown synthetic")


def write_safetensors(path, tensors, dtype="F32"):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().to(torch.float16 if dtype == "F16" else torch.float32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


class ExporterFormats(unittest.TestCase):
    """Write stories260K's weights in the other formats; every path must export the same model."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.src = read_llama2c(CKPT, TOK)
        cls.tokens = [1, 403, 407, 261, 378, 432, 383]
        ref = os.path.join(cls.tmp, "legacy")
        assert run(["--from", "llama2c", CKPT, "--tokenizer", TOK, "--out", ref]).returncode == 0
        cls.expected = final_logits(ref, cls.tokens)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_hugging_face_folder_exports_the_same_model(self):
        c, w = self.src.config, self.src.weights
        folder = os.path.join(self.tmp, "hf")
        os.makedirs(folder)

        def permute(t, heads):  # interleaved RoPE pairs -> Hugging Face rotate-half layout
            rows, cols = t.shape
            return t.reshape(heads, rows // heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)

        tensors = {"model.embed_tokens.weight": w["tok_emb"], "model.norm.weight": w["final_norm"],
                   "lm_head.weight": w["classifier"]}
        for i, lw in enumerate(w["layers"]):
            p = f"model.layers.{i}."
            tensors.update({p + "input_layernorm.weight": lw["attn_norm"],
                            p + "self_attn.q_proj.weight": permute(lw["wq"], c["n_heads"]),
                            p + "self_attn.k_proj.weight": permute(lw["wk"], c["n_kv_heads"]),
                            p + "self_attn.v_proj.weight": lw["wv"], p + "self_attn.o_proj.weight": lw["wo"],
                            p + "post_attention_layernorm.weight": lw["ffn_norm"],
                            p + "mlp.gate_proj.weight": lw["w1"], p + "mlp.down_proj.weight": lw["w2"],
                            p + "mlp.up_proj.weight": lw["w3"]})
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
        json.dump({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": c["dim"],
                   "intermediate_size": c["hidden_dim"], "num_hidden_layers": c["n_layers"],
                   "num_attention_heads": c["n_heads"], "num_key_value_heads": c["n_kv_heads"],
                   "vocab_size": c["vocab_size"], "max_position_embeddings": c["context_length"],
                   "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2}, open(folder + "/config.json", "w"))
        json.dump({"model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2}, "merges": []}},
                  open(folder + "/tokenizer.json", "w"))
        out = os.path.join(self.tmp, "hf-pkg")
        r = run(["--from", "hf", folder, "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess((final_logits(out, self.tokens) - self.expected).abs().max().item(), 1e-4)
        # --quantize int8 reads the same folder (test_int8.py covers int8 itself)
        r = run(["--from", "hf", folder, "--quantize", "int8", "--out", out + "-int8"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.load(open(out + "-int8/manifest.json"))["weight_dtype"], "int8")
        got = final_logits(out + "-int8", self.tokens)
        self.assertLess(((got - self.expected).norm() / self.expected.norm()).item(), 0.05)
        # A tensor whose shape disagrees with the config is a one-line error.
        tensors["model.norm.weight"] = torch.ones(c["dim"] + 1)
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
        r = run(["--from", "hf", folder, "--out", out + "2"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("shape", r.stderr.strip())

    def test_llama2c_version1_checkpoint_exports_the_same_model(self):
        c, w = self.src.config, self.src.weights
        path = os.path.join(self.tmp, "v1.bin")
        with open(path, "wb") as f:
            f.write(struct.pack("<Ii", 0x616B3432, 1))
            f.write(struct.pack("<7i", c["dim"], c["hidden_dim"], c["n_layers"], c["n_heads"], c["n_kv_heads"],
                                c["vocab_size"], c["context_length"]))
            f.write(struct.pack("B", 1))
            f.write(b"\0" * (256 - f.tell()))
            L = w["layers"]
            order = [lw["attn_norm"] for lw in L] + [lw["ffn_norm"] for lw in L] + [w["final_norm"], w["tok_emb"]]
            for key in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
                order += [lw[key] for lw in L]
            for t in order:
                f.write(t.contiguous().numpy().tobytes())
        out = os.path.join(self.tmp, "v1-pkg")
        r = run(["--from", "llama2c", path, "--tokenizer", TOK, "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess((final_logits(out, self.tokens) - self.expected).abs().max().item(), 1e-6)


if __name__ == "__main__":
    unittest.main(verbosity=1)
