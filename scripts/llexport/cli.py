"""Command line of the exporter. Every failure is one line on stderr and exit status 1."""
import argparse
import sys
import time

from .errors import ExportError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"export-model: {message} (see --help)\n")
        sys.exit(2)


def main(argv):
    p = _Parser(prog="export-model", description="Export a Llama-family model as a lingualinked package.")
    p.add_argument("--from", dest="source", choices=["llama2c", "hf"], help="source format")
    p.add_argument("path", nargs="?", help="checkpoint file (llama2c) or folder (hf)")
    p.add_argument("--tokenizer", help="llama2.c tokenizer.bin (with --from llama2c)")
    p.add_argument("--synthetic", metavar="SPEC", help="random weights: a preset name and/or key=value,...")
    p.add_argument("--seed", type=int, default=0, help="seed for --synthetic")
    p.add_argument("--out", required=True, help="package folder to write")
    p.add_argument("--wire", choices=["float32", "float16"], default="float32",
                   help="activation precision on the wire assumed by out_bytes_per_token")
    p.add_argument("--reference-tokens", metavar="IDS",
                   help="also write reference.json: eager logits for these comma-separated token ids")
    p.add_argument("--reference-prefill", type=int, default=0, help="how many of them form the prompt")
    p.add_argument("--quantize", choices=["int8"], help="store linear layers and the embedding table as int8 "
                   "(per-output-channel scales; docs/model-package.md)")
    p.add_argument("--draft-layers", type=int, metavar="N",
                   help="write a draft package for speculative decoding instead: the embedding, the first N blocks "
                   "and the model's final norm and classifier, named NAME-exitN (docs/model-package.md)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    started = time.time()
    try:
        import torch  # noqa: F401  (fails here, with a clear line, on a Python without torch)
    except ImportError:
        sys.stderr.write("export-model: PyTorch is missing: run with /usr/bin/python3 (Debian's python3-torch)\n")
        return 1
    try:
        from . import package, readers, synthetic
        if args.synthetic:
            if args.source:
                raise ExportError("--synthetic and --from are exclusive")
            src = synthetic.make_synthetic(args.synthetic, args.seed)
        elif args.source == "llama2c":
            if not args.path or not args.tokenizer:
                raise ExportError("--from llama2c needs CKPT.bin and --tokenizer TOK.bin")
            src = readers.read_llama2c(args.path, args.tokenizer)
        elif args.source == "hf":
            if not args.path:
                raise ExportError("--from hf needs the model folder")
            src = readers.read_hf(args.path)
        else:
            raise ExportError("say what to export: --from llama2c|hf PATH, or --synthetic SPEC")
        if args.draft_layers is not None:
            from .draft import early_exit
            src = early_exit(src, args.draft_layers)
        if args.quantize and args.reference_tokens:
            raise ExportError("--reference-tokens writes fp32 eager logits for exact comparison; "
                              "not with --quantize (compare an int8 package with llctl eval)")
        log(f"exporting {src.name}: " + ", ".join(f"{k}={v}" for k, v in src.config.items()))
        for note in src.notes:
            log(f"note: {note}")
        package.write_package(src, args.out, wire_dtype=args.wire, log=log, weights=args.quantize or "float32")
        if args.reference_tokens:
            from .reference import write_reference
            try:
                tokens = [int(t) for t in args.reference_tokens.split(",")]
            except ValueError:
                raise ExportError("--reference-tokens must be comma-separated integers")
            if not tokens or any(t < 0 or t >= src.config["vocab_size"] for t in tokens):
                raise ExportError("--reference-tokens: ids outside the vocabulary")
            prefill = args.reference_prefill or len(tokens)
            if not 1 <= prefill <= len(tokens) or len(tokens) > src.config["context_length"]:
                raise ExportError("--reference-prefill must be within the token list and the context")
            write_reference(src, args.out, tokens, prefill)
        log(f"wrote {args.out} in {time.time() - started:.1f} s")
        return 0
    except ExportError as e:
        sys.stderr.write(f"export-model: {e}\n")
        return 1
    except MemoryError:
        sys.stderr.write("export-model: out of memory\n")
        return 1
