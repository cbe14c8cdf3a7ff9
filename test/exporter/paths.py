"""Where the exporter tests find things: the checkout, the export command (this Python), the shared model files; and
the checkout's scripts/ on sys.path so the tests import llexport (which declares the engine's attention operator)."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXPORT = [sys.executable, os.path.join(ROOT, "scripts", "export-model"), "--quiet"]
MODELS = os.environ.get("LL_MODELS_DIR", os.path.join(ROOT, "..", "shared", "models"))
CKPT = os.path.join(MODELS, "stories260K.bin")
TOK = os.path.join(MODELS, "tok512.bin")
if os.path.join(ROOT, "scripts") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
