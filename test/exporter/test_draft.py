"""Draft packages (--draft-layers N, run by test/integration/exporter_draft.sh with /usr/bin/python3): an early exit
of the same checkpoint — N blocks, the target's tokenizer, the target's first N blocks and its head — and N out of
range is a one-line error."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch
from torch.jit.mobile import _load_for_lite_interpreter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paths import CKPT, EXPORT, TOK  # noqa: E402
import llexport  # noqa: E402,F401  (declares the engine's attention operator, which the shards call)


def run(args):
    return subprocess.run(EXPORT + args, capture_output=True, text=True)


def manifest(pkg):
    return json.load(open(os.path.join(pkg, "manifest.json")))


def logits_through(pkg, shard_ids, tokens):
    """The logits of `tokens` through the package's shards `shard_ids` (embed, blocks..., head), cache from 0."""
    m = manifest(pkg)
    hp = m["hyperparameters"]
    hd = hp["dim"] // hp["n_heads"]
    mods = [_load_for_lite_interpreter(os.path.join(pkg, m["shards"][i]["file"])) for i in shard_ids]
    x = mods[0](torch.tensor(tokens))
    for b in mods[1:-1]:
        k = torch.zeros(hp["n_kv_heads"], hp["context_length"], hd)
        x = b(x, 0, k, torch.zeros_like(k))
    return mods[-1](x)


class DraftPackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.target = os.path.join(cls.tmp, "target")
        r = run(["--from", "llama2c", CKPT, "--tokenizer", TOK, "--out", cls.target])
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def export_draft(self, layers):
        out = os.path.join(self.tmp, f"exit{layers}")
        r = run(["--from", "llama2c", CKPT, "--tokenizer", TOK, "--draft-layers", str(layers), "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def test_draft_package_has_n_blocks_and_its_own_name(self):
        draft = manifest(self.export_draft(2))
        self.assertEqual(draft["name"], manifest(self.target)["name"] + "-exit2")
        self.assertEqual(draft["hyperparameters"]["n_layers"], 2)
        self.assertEqual([s["kind"] for s in draft["shards"]], ["embed", "block", "block", "head"])
        self.assertEqual([s.get("layer") for s in draft["shards"]], [None, 0, 1, None])
        self.assertTrue(any("early exit" in n for n in draft["notes"]), draft["notes"])

    def test_draft_tokenizer_equals_the_targets(self):
        pkg = self.export_draft(1)
        draft, target = manifest(pkg), manifest(self.target)
        self.assertEqual(draft["tokenizer"], target["tokenizer"])
        self.assertEqual(open(os.path.join(pkg, draft["tokenizer"]["file"]), "rb").read(),
                         open(os.path.join(self.target, target["tokenizer"]["file"]), "rb").read())
        for key in ("dim", "vocab_size", "context_length", "n_heads", "n_kv_heads"):
            self.assertEqual(draft["hyperparameters"][key], target["hyperparameters"][key], key)

    def test_draft_is_the_targets_first_blocks_and_head(self):
        # The draft's logits are the target's embedding, first 3 blocks and head, not some other cut or weights.
        pkg = self.export_draft(3)
        tokens = [1, 403, 407, 261, 378, 432, 383]
        n_target_shards = len(manifest(self.target)["shards"])
        expected = logits_through(self.target, [0, 1, 2, 3, n_target_shards - 1], tokens)
        got = logits_through(pkg, [0, 1, 2, 3, 4], tokens)
        self.assertEqual((got - expected).abs().max().item(), 0.0)
        whole = logits_through(self.target, list(range(n_target_shards)), tokens)
        self.assertGreater((got - whole).abs().max().item(), 1e-3)  # an early exit is not the whole model

    def test_draft_layers_out_of_range_is_a_one_line_error(self):
        n_layers = manifest(self.target)["hyperparameters"]["n_layers"]
        for bad in (0, -1, n_layers, n_layers + 7):
            out = os.path.join(self.tmp, f"bad{bad}")
            r = run(["--from", "llama2c", CKPT, "--tokenizer", TOK, "--draft-layers", str(bad), "--out", out])
            self.assertNotEqual(r.returncode, 0)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn(f"--draft-layers must be in 1..{n_layers - 1}", lines[0])
            self.assertFalse(os.path.exists(os.path.join(out, "manifest.json")))

    def test_synthetic_draft_matches_the_synthetic_targets_first_blocks(self):
        spec = "dim=64,hidden_dim=160,n_layers=4,n_heads=4,n_kv_heads=2,vocab_size=300,context_length=32"
        target, pkg = os.path.join(self.tmp, "syn"), os.path.join(self.tmp, "syn-exit1")
        self.assertEqual(run(["--synthetic", spec, "--seed", "3", "--out", target]).returncode, 0)
        r = run(["--synthetic", spec, "--seed", "3", "--draft-layers", "1", "--out", pkg])
        self.assertEqual(r.returncode, 0, r.stderr)
        tokens = [1, 5, 77, 120]
        expected = logits_through(target, [0, 1, len(manifest(target)["shards"]) - 1], tokens)
        self.assertEqual((logits_through(pkg, [0, 1, 2], tokens) - expected).abs().max().item(), 0.0)


if __name__ == "__main__":
    unittest.main(verbosity=1)
