"""An independent PyTorch implementation of the same model class and recipe, as a cross-check of the
built-in trainer's figures (issue 9): hashed word uni+bigram embedding bag (mean), dim 64, a linear layer;
lazy (sparse) Adam for the embedding table and Adam for the linear layer, lr 0.01, batch 32, no clipping;
10 epochs on the synthetic set, 40 on the small real set; every model keeps its best epoch by accuracy on the
real validation rows; quality checker on the small real set, diversity checker = CE on the synthetic set scoring
its own rows; IMP w = q/max(d, eps), DIMP w = q/max(p(y|x; theta), eps) from the same forward pass, detached.

It shares nothing with the TypeScript code (tokeniser, hashing, initialisation, row order and splits are its own),
so agreement of the paired differences is evidence about the method on these data, not about one code base.

Usage: .cache/py/bin/python scripts/reference_ngram.py [--data ../shared/data] [--seeds 5] [--sources a,b]
       [--json out.json]
"""
import argparse
import html
import json
import math
import re
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

BUCKETS = 1 << 21
DIM = 64
EPS = 1e-6

_CONTRACTION = re.compile(r"(\w)(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)
_TOKEN = re.compile(r"n't|'\w+|\w+|[^\w\s]")


def tokens(text):
    text = html.unescape(text).lower().replace("\u2019", "'")
    text = _CONTRACTION.sub(r"\1 \2", text)
    return _TOKEN.findall(text)


def features(texts):
    ids = []
    for part, text in enumerate(texts):
        words = tokens(text)
        grams = [f"{part}|{w}" for w in words] + [f"{part}|{a} {b}" for a, b in zip(words, words[1:])]
        ids.extend(zlib.crc32(g.encode()) % BUCKETS for g in grams)
    return ids or [0]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            texts = [r["sentence1"], r["sentence2"]] if "sentence1" in r else [r.get("text", r.get("sentence"))]
            rows.append((features(texts), int(r["label"])))
    return rows


class Bag(torch.nn.Module):
    def __init__(self, classes=2):
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(BUCKETS, DIM, mode="mean", sparse=True)
        self.out = torch.nn.Linear(DIM, classes)

    def forward(self, flat, offsets):
        return self.out(self.emb(flat, offsets))


def batchify(rows, idx):
    flat, offsets = [], []
    for i in idx:
        offsets.append(len(flat))
        flat.extend(rows[i][0])
    return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long), torch.tensor([rows[i][1] for i in idx])


def probs(model, rows, batch=1024):
    out = []
    with torch.no_grad():
        for s in range(0, len(rows), batch):
            flat, off, _ = batchify(rows, range(s, min(len(rows), s + batch)))
            out.append(F.softmax(model(flat, off), dim=1))
    return torch.cat(out)


def accuracy(model, rows):
    p = probs(model, rows)
    return (p.argmax(1) == torch.tensor([r[1] for r in rows])).float().mean().item()


def train(rows, val, epochs, seed, loss="ce", q=None, d=None):
    torch.manual_seed(seed)
    model = Bag()
    sparse = torch.optim.SparseAdam(list(model.emb.parameters()), lr=0.01)
    dense = torch.optim.Adam(list(model.out.parameters()), lr=0.01)
    gen = np.random.default_rng(seed)
    best, best_state = -1.0, None
    q_t = torch.tensor(q, dtype=torch.float32) if q is not None else None
    d_t = torch.tensor(d, dtype=torch.float32) if d is not None else None
    for _ in range(epochs):
        order = gen.permutation(len(rows))
        for s in range(0, len(rows), 32):
            idx = order[s : s + 32]
            flat, off, y = batchify(rows, idx)
            logits = model(flat, off)
            ce = F.cross_entropy(logits, y, reduction="none")
            if loss == "ce":
                w = torch.ones_like(ce)
            else:
                qi = q_t[idx]
                if loss == "imp":
                    w = qi / torch.clamp(d_t[idx], min=EPS)
                else:  # dimp
                    pt = F.softmax(logits, 1).gather(1, y[:, None])[:, 0].detach()
                    w = qi / torch.clamp(pt, min=EPS)
            objective = (w * ce).mean()
            sparse.zero_grad()
            dense.zero_grad()
            objective.backward()
            sparse.step()
            dense.step()
        acc = accuracy(model, val)
        if acc > best:
            best = acc
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, best


def gold_prob(model, rows):
    p = probs(model, rows)
    return p.gather(1, torch.tensor([r[1] for r in rows])[:, None])[:, 0].numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-from", type=int, default=1)
    ap.add_argument("--sources", default="supergen,fewgen_s13,fewgen_s42")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    real = load(f"{args.data}/sst2/real_train.jsonl")
    test = load(f"{args.data}/sst2/real_test.jsonl")
    cells = []
    for source in args.sources.split(","):
        synthetic = load(f"{args.data}/sst2/synthetic_{source}.jsonl")
        for seed in range(args.seed_from, args.seed_from + args.seeds):
            started = time.time()
            order = np.random.default_rng(1000 + seed).permutation(len(real))
            small = [real[i] for i in order[:400]]
            val = [real[i] for i in order[400:600]]
            quality, qacc = train(small, val, 40, seed)
            diversity, dacc = train(synthetic, val, 10, seed)
            q = gold_prob(quality, synthetic)
            d = gold_prob(diversity, synthetic)
            result = {"source": source, "seed": seed, "quality_val": qacc, "quality_test": accuracy(quality, test), "diversity_val": dacc}
            for loss in ("ce", "imp", "dimp"):
                model, _ = train(synthetic, val, 10, seed, loss, q, d)
                result[loss] = accuracy(model, test)
            w = q / np.maximum(d, EPS)
            result["imp_max_weight"] = float(w.max())
            result["seconds"] = time.time() - started
            cells.append(result)
            print(json.dumps(result), flush=True)
    print("\nsource        n   CE     IMP-CE         DIMP-CE", file=sys.stderr)
    for source in args.sources.split(",") + ["pooled"]:
        cs = [c for c in cells if source in ("pooled", c["source"])]
        def stat(key):
            xs = np.array([c[key] - c["ce"] for c in cs]) * 100
            return f"{xs.mean():+.2f} ± {xs.std(ddof=1) / math.sqrt(len(xs)) if len(xs) > 1 else 0:.2f}"
        print(f"{source:12} {len(cs):2} {np.mean([c['ce'] for c in cs]) * 100:5.1f}  {stat('imp'):14} {stat('dimp')}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(cells, f, indent=1)


if __name__ == "__main__":
    main()
