"""A Hugging Face Trainer with DIMP Curator's losses, and the callback that reports its progress as DIMP Curator's
events (src/core/events.ts): train-start, train-progress, train-epoch, train-done, log."""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from .loss import WeightGuards, batch_loss

# Columns our rows carry besides the model's inputs: kept through `remove_unused_columns`, removed before
# `model(**inputs)`.
WEIGHT_COLUMNS = ("quality", "diversity", "row_index")
WEIGHT_HISTOGRAM_EDGES = [0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, float("inf")]


class WeightedTrainer(Trainer):
    """`transformers.Trainer` whose `compute_loss` applies ce / imp / dimp / quality as DIMP Curator's trainer does.

    Training rows carry `quality` (q), `diversity` (d) and `row_index`; each step records the rows' weights
    and sums the objective and the plain cross-entropy, which the progress callback reduces across processes.
    """

    def __init__(self, *args: Any, loss_kind: str, guards: WeightGuards, training_rows: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.loss_kind = loss_kind
        self.guards = guards
        # compute_loss returns the plain batch mean itself: the Trainer must not rescale it by token counts.
        self.model_accepts_loss_kwargs = False
        self.epoch_weight_sum = torch.zeros(training_rows, dtype=torch.float64)
        self.epoch_weight_seen = torch.zeros(training_rows, dtype=torch.float64)
        self.epoch_objective_sum = 0.0
        self.epoch_cross_entropy_sum = 0.0
        self.epoch_rows = 0
        self.window_objective = 0.0
        self.window_steps = 0

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        for column in WEIGHT_COLUMNS:
            if column not in self._signature_columns:
                self._signature_columns.append(column)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        quality = inputs.pop("quality", None)
        diversity = inputs.pop("diversity", None)
        row_index = inputs.pop("row_index", None)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        # Evaluation rows carry no q: their loss is the plain cross-entropy.
        kind = self.loss_kind if quality is not None or self.loss_kind in ("ce", "filter") else "ce"
        result = batch_loss(logits, labels, kind, self.guards, quality, diversity)
        if model.training and row_index is not None:
            rows = row_index.detach().cpu().long()
            self.epoch_weight_sum.index_add_(0, rows, result.weights.detach().cpu().double())
            self.epoch_weight_seen.index_add_(0, rows, torch.ones(len(rows), dtype=torch.float64))
            n = len(rows)
            self.epoch_objective_sum += float(result.objective.detach()) * n
            self.epoch_cross_entropy_sum += float(result.cross_entropy) * n
            self.epoch_rows += n
            self.window_objective += float(result.objective.detach())
            self.window_steps += 1
        return (result.objective, outputs) if return_outputs else result.objective


def collate_rows(tokenizer) -> Callable[[List[Dict[str, Any]]], Dict[str, torch.Tensor]]:
    """Pads the token columns with the tokenizer; labels, q, d and row indices become tensors of their own."""

    def collate(features: List[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        extra: Dict[str, torch.Tensor] = {}
        for column, dtype in (("labels", torch.long), ("quality", torch.float32), ("diversity", torch.float32), ("row_index", torch.long)):
            if column in features[0]:
                extra[column] = torch.tensor([f[column] for f in features], dtype=dtype)
        tokens = [{k: v for k, v in f.items() if k not in extra} for f in features]
        batch = dict(tokenizer.pad(tokens, return_tensors="pt"))
        batch.update(extra)
        return batch

    return collate


def evaluate_predictions(predicted: np.ndarray, gold: np.ndarray, num_classes: int) -> Dict[str, float]:
    """Accuracy, macro-F1, rows and majority share, as src/core/train/metrics.ts `evaluatePredictions`."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for g, p in zip(gold.tolist(), predicted.tolist()):
        matrix[g][p] += 1
    f1s = []
    for c in range(num_classes):
        gold_count, predicted_count = matrix[c].sum(), matrix[:, c].sum()
        if gold_count == 0 and predicted_count == 0:
            continue
        f1s.append(2 * matrix[c][c] / (gold_count + predicted_count))
    rows = int(len(gold))
    return {
        "accuracy": float(np.trace(matrix) / rows) if rows else 0.0,
        "macroF1": float(np.mean(f1s)) if f1s else 0.0,
        "rows": rows,
        "majority": float(matrix.sum(axis=1).max() / rows) if rows else 0.0,
    }


def weight_diagnostics(weights: np.ndarray) -> Dict[str, float]:
    """As src/core/weighting/weights.ts `weightDiagnostics`."""
    n = len(weights)
    total = float(weights.sum())
    squares = float((weights * weights).sum())
    top = max(1, n // 100)
    top_sum = float(np.sort(weights)[n - top:].sum()) if n else 0.0
    ess = total * total / squares if squares > 0 else 0.0
    return {
        "rows": n,
        "effectiveSampleSize": ess,
        "effectiveShare": ess / n if n else 0.0,
        "maxWeight": float(weights.max()) if n else 0.0,
        "meanWeight": total / n if n else 0.0,
        "top1PercentShare": top_sum / total if total > 0 else 0.0,
    }


def weight_histogram(weights: np.ndarray) -> Dict[str, Any]:
    """As src/core/train/trainer.ts `weightHistogram`: counts in the fixed log-spaced bins."""
    edges = WEIGHT_HISTOGRAM_EDGES
    counts = [0] * (len(edges) - 1)
    for w in weights.tolist():
        b = 0
        while b < len(counts) - 1 and w >= edges[b + 1]:
            b += 1
        counts[b] += 1
    d = weight_diagnostics(weights)
    n = len(weights)
    return {
        "edges": [e if e != float("inf") else None for e in edges],
        "counts": counts,
        "mean": float(weights.mean()) if n else 0.0,
        "min": float(weights.min()) if n else 0.0,
        "max": float(weights.max()) if n else 0.0,
        "effectiveShare": d["effectiveShare"],
        "top1PercentShare": d["top1PercentShare"],
    }


class EventWriter:
    """Writes events as JSON lines to a stream (the launcher reads them) and to `train-log.jsonl` with their time."""

    def __init__(self, stream, log_file: Optional[str]):
        self.stream = stream
        self.started = time.time()
        self.log = open(log_file, "a", encoding="utf-8") if log_file else None

    def __call__(self, event: Dict[str, Any]) -> None:
        line = json.dumps(event, allow_nan=False)
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        if self.log is not None:
            self.log.write(json.dumps({"time": int((time.time() - self.started) * 1000), **event}) + "\n")
            self.log.flush()

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        device = torch.device("cuda", torch.cuda.current_device()) if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
        moved = tensor.to(device)
        torch.distributed.all_reduce(moved)
        return moved.cpu()
    return tensor


class ProgressCallback(TrainerCallback):
    """Emits DIMP Curator's training events from the main process; every process takes part in the reductions."""

    def __init__(self, trainer: WeightedTrainer, emit: Callable[[Dict[str, Any]], None], *, rows: int, has_validation: bool, has_test: bool, world_size: int):
        self.trainer = trainer
        self.emit = emit
        self.rows = rows
        self.has_validation = has_validation
        self.has_test = has_test
        self.world_size = world_size
        self.epochs: List[Dict[str, Any]] = []
        self.last_weights = np.ones(rows, dtype=np.float64)
        self.pending: Optional[Dict[str, Any]] = None
        self.started = 0.0
        self.epoch_started = 0.0
        self.training_seconds = 0.0
        self.last_progress = 0.0
        self.total_steps = 0

    def _main(self, state) -> bool:
        return state.is_world_process_zero

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()
        self.last_progress = self.started
        self.total_steps = state.max_steps
        if self._main(state):
            steps_per_epoch = max(1, state.max_steps // max(1, int(args.num_train_epochs)))
            self.emit({"type": "train-start", "loss": self.trainer.loss_kind, "epochs": int(args.num_train_epochs), "rows": self.rows, "stepsPerEpoch": steps_per_epoch})

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epoch_started = time.time()
        t = self.trainer
        t.epoch_weight_sum.zero_()
        t.epoch_weight_seen.zero_()
        t.epoch_objective_sum = t.epoch_cross_entropy_sum = 0.0
        t.epoch_rows = 0

    def on_step_end(self, args, state, control, **kwargs):
        now = time.time()
        if now - self.last_progress < 0.25 or not self._main(state):
            return
        t = self.trainer
        seconds = self.training_seconds + (now - self.epoch_started)
        rows_per_second = state.global_step * args.per_device_train_batch_size * self.world_size * args.gradient_accumulation_steps / max(seconds, 1e-9)
        remaining = (self.total_steps - state.global_step) * args.per_device_train_batch_size * self.world_size * args.gradient_accumulation_steps
        scheduler = t.lr_scheduler
        learning_rate = float(scheduler.get_last_lr()[0]) if scheduler is not None else float(args.learning_rate)
        self.emit({
            "type": "train-progress",
            "epoch": int(state.epoch or 0) + (0 if state.epoch and float(state.epoch).is_integer() else 1),
            "step": state.global_step,
            "totalSteps": self.total_steps,
            # The main process's own batches since the last event (other processes' rows are not waited for).
            "loss": t.window_objective / max(1, t.window_steps),
            "learningRate": learning_rate,
            "rowsPerSecond": rows_per_second,
            "etaSeconds": remaining / max(rows_per_second, 1e-9),
        })
        t.window_objective = 0.0
        t.window_steps = 0
        self.last_progress = now

    def on_epoch_end(self, args, state, control, **kwargs):
        t = self.trainer
        seconds = time.time() - self.epoch_started
        self.training_seconds += seconds
        weight_sum = _all_reduce_sum(t.epoch_weight_sum.clone())
        seen = _all_reduce_sum(t.epoch_weight_seen.clone())
        sums = _all_reduce_sum(torch.tensor([t.epoch_objective_sum, t.epoch_cross_entropy_sum, float(t.epoch_rows)], dtype=torch.float64))
        seen_rows = seen.numpy() > 0
        # A row seen by two processes (the distributed sampler pads the last batch) gets its mean weight.
        self.last_weights[seen_rows] = (weight_sum.numpy()[seen_rows] / seen.numpy()[seen_rows])
        rows = max(1.0, float(sums[2]))
        self.pending = {
            "type": "train-epoch",
            "epoch": len(self.epochs) + 1,
            "trainLoss": float(sums[0]) / rows,
            "trainCrossEntropy": float(sums[1]) / rows,
            "validation": None,
            "test": None,
            "weights": weight_histogram(self.last_weights),
            "seconds": seconds,
            "rowsPerSecond": self.rows / max(seconds, 1e-9),
        }
        if not self.has_validation and not self.has_test:
            self._finish_epoch(state)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.pending is None or metrics is None:
            return
        for role in ("validation", "test"):
            key = f"eval_{role}_accuracy"
            if key in metrics:
                self.pending[role] = {k: metrics[f"eval_{role}_{k}"] for k in ("accuracy", "macroF1", "rows", "majority")}
        done = (not self.has_validation or self.pending["validation"] is not None) and (not self.has_test or self.pending["test"] is not None)
        if done:
            self._finish_epoch(state)

    def _finish_epoch(self, state) -> None:
        event = self.pending
        self.pending = None
        if event["validation"] is None:
            del event["validation"]
        if event["test"] is None:
            del event["test"]
        self.epochs.append({k: v for k, v in event.items() if k != "type"})
        if self._main(state):
            self.emit(event)

    def best_epoch(self) -> int:
        """1-based epoch with the highest validation accuracy (the first of ties), else the last."""
        best, best_accuracy = len(self.epochs), -1.0
        for i, epoch in enumerate(self.epochs):
            accuracy = epoch.get("validation", {}).get("accuracy") if "validation" in epoch else None
            if accuracy is not None and accuracy > best_accuracy:
                best, best_accuracy = i + 1, accuracy
        return best


def metrics_for(num_classes: int) -> Callable[[Any], Dict[str, float]]:
    def compute(prediction) -> Dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return evaluate_predictions(np.asarray(logits).argmax(axis=-1), np.asarray(prediction.label_ids), num_classes)

    return compute


def log_event(emit: Callable[[Dict[str, Any]], None], level: str, message: str) -> None:
    emit({"type": "log", "level": level, "message": message})


def stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


__all__: Sequence[str] = ("WeightedTrainer", "ProgressCallback", "EventWriter", "collate_rows", "metrics_for", "weight_histogram", "weight_diagnostics")
