"""Int8 export tests (run by test/integration/exporter_int8.sh with /usr/bin/python3): `--quantize int8` writes an
int8 package for each source, its shards run in the lite interpreter on every engine torch has, a row's result never
depends on the other rows of a decode step nor on its row index, and bad weights are a one-line error."""
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
from llexport.quant import ENGINES, Int8Linear  # noqa: E402

DECODE_ROWS = 8  # kDecodeRows in src/runtime/torch_shard_range.cc


def run(args):
    return subprocess.run(EXPORT + args, capture_output=True, text=True)


def load(pkg):
    m = json.load(open(os.path.join(pkg, "manifest.json")))
    return m, [_load_for_lite_interpreter(os.path.join(pkg, s["file"])) for s in m["shards"]]


def all_logits(pkg, tokens):
    """Prefill logits of every position, through the lite-interpreter shards."""
    m, mods = load(pkg)
    hp = m["hyperparameters"]
    hd = hp["dim"] // hp["n_heads"]
    x = mods[0](torch.tensor(tokens))
    for b in mods[1:-1]:
        k = torch.zeros(hp["n_kv_heads"], hp["context_length"], hd)
        x = b(x, 0, k, torch.zeros_like(k))
    return mods[-1].run_method("logits_rows", x)


class Int8Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.fp32 = os.path.join(cls.tmp, "fp32")
        cls.int8 = os.path.join(cls.tmp, "int8")
        for out, extra in ((cls.fp32, []), (cls.int8, ["--quantize", "int8"])):
            r = run(["--from", "llama2c", CKPT, "--tokenizer", TOK, "--out", out] + extra)
            assert r.returncode == 0, r.stderr
        cls.tokens = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_manifest_records_int8_and_real_sizes(self):
        m32 = json.load(open(os.path.join(self.fp32, "manifest.json")))
        m8 = json.load(open(os.path.join(self.int8, "manifest.json")))
        self.assertEqual(m8["weight_dtype"], "int8")
        self.assertEqual(m32["weight_dtype"], "float32")
        self.assertEqual(sorted(m8["quantized_engines"]), sorted(ENGINES))
        for s32, s8 in zip(m32["shards"], m8["shards"]):
            self.assertEqual(s8["weight_dtype"], "int8")
            self.assertEqual(s8["file_bytes"], os.path.getsize(os.path.join(self.int8, s8["file"])))
            self.assertLess(s8["bytes"], s32["bytes"] * 0.45, s8["file"])  # tiny matrices: scales weigh in

    def test_int8_logits_stay_close_to_fp32_on_every_engine(self):
        want = all_logits(self.fp32, self.tokens)
        for engine in ENGINES:
            torch.backends.quantized.engine = engine
            got = all_logits(self.int8, self.tokens)
            kl = (want.log_softmax(-1).exp() * (want.log_softmax(-1) - got.log_softmax(-1))).sum(-1).mean()
            self.assertLess(kl.item(), 0.01, engine)
            self.assertGreaterEqual((want.argmax(-1) == got.argmax(-1)).float().mean().item(), 0.9, engine)
            _, mods = load(self.int8)
            self.assertTrue(all(mod.run_method("scales_ok") for mod in mods))
            self.assertEqual({mod.run_method("weight_type") for mod in mods}, {"int8"})

    def test_int8_row_is_bit_identical_whatever_the_other_rows_and_its_position(self):
        torch.manual_seed(3)
        for engine in ENGINES:
            torch.backends.quantized.engine = engine
            lin = Int8Linear(torch.randn(96, 64))
            row = torch.randn(1, 64)
            alone = lin(torch.cat([row, torch.zeros(DECODE_ROWS - 1, 64)]))[0]
            for position in range(DECODE_ROWS):
                others = torch.randn(DECODE_ROWS, 64) * (10.0 ** (position - 3))
                others[position] = row[0]
                self.assertTrue(torch.equal(lin(others)[position], alone), f"{engine}, row {position}")
        # The same through a real block shard in the lite interpreter: one session's decode step, at row 0 with
        # zero padding and at row 5 among other sessions, gives the same bits (output and KV cache).
        m, mods = load(self.int8)
        hp = m["hyperparameters"]
        hd = hp["dim"] // hp["n_heads"]
        for engine in ENGINES:
            torch.backends.quantized.engine = engine
            _, mods = load(self.int8)
            block = mods[2]
            x = torch.randn(1, hp["dim"])

            def cache():
                return torch.zeros(hp["n_kv_heads"], hp["context_length"], hd)

            k0, v0 = cache(), cache()
            alone = block.run_method("decode_batch", torch.cat([x, torch.zeros(DECODE_ROWS - 1, hp["dim"])]), [3],
                                     [k0], [v0])[0]
            batch = torch.randn(DECODE_ROWS, hp["dim"]) * 4
            batch[5] = x[0]
            ks, vs = [cache() for _ in range(6)], [cache() for _ in range(6)]
            out = block.run_method("decode_batch", batch, [9, 1, 4, 7, 2, 3], ks, vs)[5]
            self.assertTrue(torch.equal(out, alone), engine)
            self.assertTrue(torch.equal(ks[5], k0) and torch.equal(vs[5], v0), engine)

    def test_synthetic_shape_exports_as_int8(self):
        out = os.path.join(self.tmp, "odd-int8")
        r = run(["--synthetic", "odd", "--seed", "7", "--quantize", "int8", "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        ref = os.path.join(self.tmp, "odd")
        self.assertEqual(run(["--synthetic", "odd", "--seed", "7", "--out", ref]).returncode, 0)
        tokens = [1, 17, 250, 3, 99, 299]
        want, got = all_logits(ref, tokens), all_logits(out, tokens)
        self.assertLess(((got - want).norm() / want.norm()).item(), 0.05)

    def test_reference_logits_with_int8_are_a_one_line_error(self):
        r = run(["--synthetic", "odd", "--quantize", "int8", "--reference-tokens", "1,2,3", "--out", self.tmp + "/r"])
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("llctl eval", r.stderr)

    def test_non_finite_weights_are_a_one_line_error(self):
        blob = bytearray(open(CKPT, "rb").read())
        dim = struct.unpack_from("<i", blob, 0)[0]
        vocab = struct.unpack_from("<i", blob, 20)[0]
        wq = 28 + 4 * (vocab * dim + 5 * dim)  # legacy v0: header, token embedding, rms_att, then wq
        struct.pack_into("<f", blob, wq + 40, float("nan"))
        bad = os.path.join(self.tmp, "nan.bin")
        open(bad, "wb").write(bytes(blob))
        r = run(["--from", "llama2c", bad, "--tokenizer", TOK, "--quantize", "int8", "--out", self.tmp + "/nan"])
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("non-finite", lines[0])


if __name__ == "__main__":
    unittest.main(verbosity=1)
