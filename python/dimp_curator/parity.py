"""Loss parity with DIMP Curator's TypeScript trainer: reads cases as JSON on stdin
([{"loss", "logits" (B × C, row-major), "classes", "labels", "quality"?, "diversity"?, "epsilon", "maxWeight"}]) and writes, per case,
the objective, the mean cross-entropy and the weights from `batch_loss`, in float64. test/unit/lossParity.test.ts
runs it and compares with `batchLoss`. With the argument `rows`, row ids and label indices instead (data.py
against src/core/data)."""
from __future__ import annotations

import json
import sys

import torch

from .loss import WeightGuards, batch_loss


def rows() -> int:
    """Row ids and class indices: reads [{"texts", "label", "labels"}] and writes [{"rowId", "index"}]."""
    from .data import LabelMap, compute_row_id

    cases = json.load(sys.stdin)
    json.dump([{"rowId": compute_row_id(c["texts"], c["label"]), "index": LabelMap(c["labels"]).index_of(c["label"])} for c in cases], sys.stdout)
    return 0


def main() -> int:
    if sys.argv[1:] == ["rows"]:
        return rows()
    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        logits = torch.tensor(case["logits"], dtype=torch.float64).reshape(len(case["labels"]), case["classes"])
        labels = torch.tensor(case["labels"], dtype=torch.long)
        quality = torch.tensor(case["quality"], dtype=torch.float64) if case.get("quality") is not None else None
        diversity = torch.tensor(case["diversity"], dtype=torch.float64) if case.get("diversity") is not None else None
        logits.requires_grad_(True)
        result = batch_loss(logits, labels, case["loss"], WeightGuards(case["epsilon"], case.get("maxWeight")), quality, diversity)
        gradient = torch.autograd.grad(result.objective, logits)[0] if labels.numel() else torch.zeros(0)
        results.append({
            "objective": float(result.objective.detach()),
            "crossEntropy": float(result.cross_entropy),
            "weights": result.weights.tolist(),
            "gradient": gradient.reshape(-1).tolist(),
        })
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
