"""`python -m dimp_curator.train` (or under `accelerate launch -m dimp_curator.train`): fine-tunes a Hugging Face
sequence classifier with CE / IMP / DIMP and writes DIMP Curator's run folder (src/core/train/runFolder.ts):

    <run>/model/           the model as a Hugging Face folder (safetensors, config.json with id2label, tokenizer)
                           plus model.onnx, which `dimp-curator score --quality-model` and the editor load
    <run>/config.json      kind "dimp-run": loss, seed, guards, settings, data, the scores header
    <run>/metrics.json     best epoch, validation and test scores, every epoch, weight diagnostics
    <run>/weights.jsonl    each training row's weight at its last step
    <run>/train-log.jsonl  every event, with its time in ms since the start

Events go to stdout as JSON lines (one object per line, `type` tagged), from the main process only.
With --out/--name the folder is built under a temporary sibling and renamed when whole; with --run-dir the
caller (DIMP Curator's launcher) owns an empty staging folder and publishes it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .data import DataError, Fields, LabelMap, join_scores, keep_top_by_quality, read_jsonl, read_scores, resolve_labels  # noqa: E402
from .loss import DEFAULT_EPSILON, LOSS_KINDS, WeightGuards  # noqa: E402

DEFAULT_FILTER_KEEP = 0.8


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dimp_curator.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic", required=True, help="synthetic JSONL to train on")
    p.add_argument("--scores", help="scores file of the synthetic rows (`dimp-curator score`): q for imp/dimp/quality/filter, d for imp")
    p.add_argument("--validation", help="real JSONL choosing the best epoch")
    p.add_argument("--test", help="real JSONL for the final report")
    p.add_argument("--text-field", help="text field (two comma-separated for a pair); default: detected")
    p.add_argument("--label-field", help="label field; default: detected")
    p.add_argument("--fields-json", help='per-file field mappings as JSON: {"synthetic": {"text": [...], "label": "..."}, "validation": …}')
    p.add_argument("--labels", help="label names in class-index order, comma-separated; default: the scores file's, else sorted from the data")
    p.add_argument("--labels-json", help="label names as a JSON array (names holding commas)")
    p.add_argument("--loss", default="dimp", choices=LOSS_KINDS)
    p.add_argument("--model", required=True, help="Hugging Face model folder or hub name to fine-tune")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="rows per device per step")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--warmup-ratio", type=float, default=0.0)
    p.add_argument("--max-length", type=int, default=128, help="tokens per row, special tokens included")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epsilon", type=float, default=DEFAULT_EPSILON)
    p.add_argument("--max-weight", type=float)
    p.add_argument("--keep", type=float, default=DEFAULT_FILTER_KEEP, help="filter: share of rows kept, highest q first")
    p.add_argument("--out", help="parent folder of run folders (with --name)")
    p.add_argument("--name", help="run folder name (default <loss>-<time>)")
    p.add_argument("--run-dir", help="write into this existing empty folder (the caller publishes it)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    args = p.parse_args(argv)
    if not args.run_dir and not args.out:
        p.error("name where the run goes: --out DIR [--name NAME], or --run-dir DIR")
    if args.loss != "ce" and not args.scores:
        p.error(f"{args.loss} needs --scores FILE (from `dimp-curator score`)")
    return args


def _temporary_sibling(target: str) -> str:
    """`.<name>.tmp-<pid>-<time in base 36>-1`: the shape DIMP Curator sweeps when the process is gone."""
    stamp = int(time.time() * 1000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    base36 = ""
    while stamp:
        stamp, r = divmod(stamp, 36)
        base36 = digits[r] + base36
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp-{os.getpid()}-{base36}-1")


def _fields_for(args: argparse.Namespace, role: str) -> Optional[Fields]:
    if args.fields_json:
        mapping = json.loads(args.fields_json).get(role)
        if mapping:
            return Fields(list(mapping["text"]), mapping["label"])
    if args.text_field or args.label_field:
        if not (args.text_field and args.label_field):
            raise DataError("--text-field and --label-field go together")
        return Fields([s.strip() for s in args.text_field.split(",")], args.label_field)
    return None


def _label_names(args: argparse.Namespace, scores_header: Optional[Dict[str, Any]], synthetic_rows) -> List[str]:
    if args.labels_json:
        return list(json.loads(args.labels_json))
    if args.labels:
        return [s.strip() for s in args.labels.split(",") if s.strip()]
    if scores_header and scores_header.get("labels"):
        return list(scores_header["labels"])
    raw = sorted({str(r.raw_label) for r in synthetic_rows}, key=lambda s: (not s.lstrip("-").isdigit(), int(s) if s.lstrip("-").isdigit() else 0, s))
    return raw


def _data_file(dataset, rows: int) -> Dict[str, Any]:
    return {"file": os.path.abspath(dataset.file), "fields": dataset.fields.to_json(), "rows": rows, "problems": len(dataset.problems)}


def _round7(x: float) -> float:
    return float(f"{x:.7g}")


def export_onnx(model, tokenizer, folder: str, max_length: int) -> str:
    """Writes `model.onnx` (inputs the tokenizer's, int64 [batch, sequence]; output `logits`) next to the HF files."""
    import torch

    target = os.path.join(folder, "model.onnx")
    try:  # optimum writes the same layout, when the user has it
        from optimum.exporters.onnx import main_export  # type: ignore

        main_export(folder, output=folder, task="text-classification", opset=14, device="cpu")
        return "optimum"
    except ImportError:
        pass
    names = [n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]
    sample = tokenizer(["a short example", "and another, a little longer one"], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    model = model.to("cpu").eval()

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).logits

    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    axes["logits"] = {0: "batch_size"}
    torch.onnx.export(
        Logits(model), tuple(sample[n] for n in names), target, input_names=names, output_names=["logits"],
        dynamic_axes=axes, opset_version=14, do_constant_folding=True, dynamo=False,
    )
    return "torch.onnx.export (TorchScript, opset 14)"


def _warmup(arguments_class, ratio: float) -> Dict[str, float]:
    """The warmup share under either name: `warmup_ratio` (transformers 4), a float `warmup_steps` < 1 (5)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(arguments_class)}
    return {"warmup_ratio": ratio} if "warmup_ratio" in names else {"warmup_steps": ratio}


def _fix_tokenizer_json(folder: str, max_length: int) -> None:
    """DIMP Curator's tokenizer reads tokenizer.json alone: no fixed padding, truncation at the training length."""
    from tokenizers import Tokenizer

    path = os.path.join(folder, "tokenizer.json")
    if not os.path.isfile(path):
        return
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    tok.save(path)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    import transformers
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list
    from datasets import Dataset as HFDataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, PrinterCallback, TrainingArguments

    from .trainer import EventWriter, ProgressCallback, WeightedTrainer, collate_rows, log_event, metrics_for, weight_diagnostics

    # Without a GPU every process trains on the CPU: under `accelerate launch --multi_gpu --num_processes N` on a
    # CPU-only machine (torchrun, gloo) as under `--cpu`, which accelerate runs as one process unless given mpirun.
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "false").lower() == "true" or not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu)
    main = state.is_main_process
    started = time.time()

    # Where the run goes: the caller's staging folder, or a temporary sibling of <out>/<name> made by the main process.
    if args.run_dir:
        stage, target = os.path.abspath(args.run_dir), None
        if main:
            os.makedirs(stage, exist_ok=True)
    else:
        name = args.name or f"{args.loss}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
        target = os.path.abspath(os.path.join(args.out, name))
        holder = [None]
        if main:
            if os.path.exists(target):
                raise DataError(f"{target}: run folder already exists; choose another --name or --out")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            holder[0] = _temporary_sibling(target)
            os.makedirs(holder[0])
        stage = broadcast_object_list(holder)[0]
    emit = EventWriter(sys.stdout if main else None, os.path.join(stage, "train-log.jsonl") if main else None)
    published = False
    try:
        scores = read_scores(args.scores) if args.loss != "ce" else None
        synthetic = read_jsonl(args.synthetic, _fields_for(args, "synthetic"))
        labels = LabelMap(_label_names(args, scores.header if scores else None, synthetic.rows))
        resolve_labels(synthetic, labels)
        evaluation = {}
        for role in ("validation", "test"):
            file = getattr(args, role)
            if file:
                # Each file's fields are detected on their own unless named (as DIMP Curator reads them).
                evaluation[role] = resolve_labels(read_jsonl(file, _fields_for(args, role)), labels)
        if main:
            for dataset in [synthetic, *evaluation.values()]:
                if dataset.problems:
                    line, reason = dataset.problems[0]
                    log_event(emit, "warning", f"{dataset.file}: {len(dataset.problems)} lines skipped (first: line {line}: {reason})")
            log_event(emit, "info", f"labels: {', '.join(labels.names)}")
        aligned = join_scores(synthetic.rows, scores)
        if args.loss == "filter" and aligned.rows:
            aligned = keep_top_by_quality(aligned, args.keep)
        if aligned.unscored and main:
            log_event(emit, "warning", f"{aligned.unscored} synthetic rows have no scores (changed since scoring?) and are left out; rescore to include them")
        if not aligned.rows:
            raise DataError(f"{args.synthetic}: no synthetic rows to train on")

        guards = WeightGuards(args.epsilon, args.max_weight)
        settings = {
            "engine": "pytorch", "model": args.model, "epochs": args.epochs, "batchSize": args.batch_size, "learningRate": args.lr,
            "weightDecay": args.weight_decay, "warmupRatio": args.warmup_ratio, "maxLength": args.max_length,
            "processes": state.num_processes, "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }
        device = "cpu" if use_cpu else state.device.type
        if main:
            config = {
                "kind": "dimp-run", "version": 1, "loss": args.loss, "seed": args.seed,
                "guards": {"epsilon": guards.epsilon, "maxWeight": guards.max_weight},
                **({"filterKeep": args.keep} if args.loss == "filter" else {}),
                "settings": settings, "model": "pytorch", "device": device, "labels": labels.names,
                "data": {
                    "synthetic": _data_file(synthetic, len(aligned.rows)),
                    **{role: _data_file(d, len(d.rows)) for role, d in evaluation.items()},
                    **({"scores": scores.header} if scores else {}),
                },
                "createdAt": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
            with open(os.path.join(stage, "config.json"), "w", encoding="utf-8") as handle:
                handle.write(json.dumps(config, indent=2) + "\n")

        transformers.set_seed(args.seed)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForSequenceClassification.from_pretrained(
            args.model, num_labels=len(labels), id2label=dict(enumerate(labels.names)), label2id={n: i for i, n in enumerate(labels.names)},
            ignore_mismatched_sizes=True, attn_implementation="eager",
        )

        def tokenized(rows, extra: Dict[str, List[Any]]) -> HFDataset:
            firsts = [r.texts[0] for r in rows]
            seconds = [r.texts[1] for r in rows] if rows and len(rows[0].texts) == 2 else None
            encoded = tokenizer(firsts, seconds, truncation=True, max_length=args.max_length)
            return HFDataset.from_dict({**encoded, "labels": [r.label for r in rows], **extra})

        train_extra: Dict[str, List[Any]] = {"row_index": list(range(len(aligned.rows)))}
        if aligned.quality is not None:
            train_extra["quality"] = aligned.quality
            train_extra["diversity"] = aligned.diversity
        train_set = tokenized(aligned.rows, train_extra)
        eval_sets = {role: tokenized(d.rows, {}) for role, d in evaluation.items() if d.rows}

        checkpoints = os.path.join(stage, ".checkpoints")
        training_args = TrainingArguments(
            output_dir=checkpoints, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=max(args.batch_size, 64), learning_rate=args.lr, weight_decay=args.weight_decay,
            **_warmup(TrainingArguments, args.warmup_ratio), seed=args.seed, data_seed=args.seed, report_to=[], disable_tqdm=True,
            logging_strategy="no", eval_strategy="epoch" if eval_sets else "no",
            save_strategy="epoch" if "validation" in eval_sets else "no", save_total_limit=1 if "validation" in eval_sets else None,
            load_best_model_at_end="validation" in eval_sets, metric_for_best_model="validation_accuracy" if "validation" in eval_sets else None,
            greater_is_better=True, save_only_model=True, remove_unused_columns=True, dataloader_drop_last=False,
            use_cpu=use_cpu,
        )
        trainer = WeightedTrainer(
            model=model, args=training_args, train_dataset=train_set, eval_dataset=eval_sets or None,
            data_collator=collate_rows(tokenizer), compute_metrics=metrics_for(len(labels)),
            loss_kind=args.loss, guards=guards, training_rows=len(aligned.rows),
        )
        progress = ProgressCallback(trainer, emit, rows=len(aligned.rows), has_validation="validation" in eval_sets, has_test="test" in eval_sets, world_size=state.num_processes)
        trainer.add_callback(progress)
        # The Trainer prints its metrics to stdout, where the events go: the events say it all.
        trainer.remove_callback(PrinterCallback)
        result = trainer.train()
        best_epoch = progress.best_epoch()
        test_scores = None
        if "test" in eval_sets:
            measured = trainer.evaluate(eval_sets["test"], metric_key_prefix="final_test")
            test_scores = {k: measured[f"final_test_{k}"] for k in ("accuracy", "macroF1", "rows", "majority")}
        seconds = time.time() - started
        validation_scores = progress.epochs[best_epoch - 1].get("validation") if progress.epochs else None
        if main:
            emit({"type": "train-done", "bestEpoch": best_epoch, **({"validation": validation_scores} if validation_scores else {}), "seconds": seconds})
            model_dir = os.path.join(stage, "model")
            best = trainer.accelerator.unwrap_model(trainer.model)
            best.config.update({"dimp_run": {"loss": args.loss, "seed": args.seed, "engine": "pytorch"}})
            best.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
            _fix_tokenizer_json(model_dir, args.max_length)
            exporter = None
            if not args.no_onnx:
                exporter = export_onnx(best, tokenizer, model_dir, args.max_length)
                log_event(emit, "info", f"model exported to ONNX with {exporter}")
            weights = progress.last_weights if args.loss not in ("ce", "filter") else np.ones(len(aligned.rows))
            metrics = {
                "loss": args.loss, "bestEpoch": best_epoch, "validation": validation_scores, "test": test_scores,
                "epochs": progress.epochs, "trainingRows": len(aligned.rows), "unscoredRows": aligned.unscored,
                "rowsPerSecond": len(aligned.rows) * args.epochs / max(progress.training_seconds, 1e-9), "seconds": seconds,
                "provider": f"pytorch {device} × {state.num_processes} process{'es' if state.num_processes > 1 else ''}",
                **({"weightDiagnostics": weight_diagnostics(weights)} if args.loss not in ("ce", "filter") else {}),
                "engine": {"name": "pytorch", "torch": torch.__version__, "transformers": transformers.__version__, "processes": state.num_processes, "onnxExporter": exporter, "trainerLoss": float(result.training_loss)},
            }
            # Absent, not null, as the TypeScript writer leaves scores it has none of.
            metrics = {k: v for k, v in metrics.items() if not (k in ("validation", "test") and v is None)}
            with open(os.path.join(stage, "metrics.json"), "w", encoding="utf-8") as handle:
                handle.write(json.dumps(metrics, indent=2) + "\n")
            with open(os.path.join(stage, "weights.jsonl"), "w", encoding="utf-8") as handle:
                for i, row in enumerate(aligned.rows):
                    line = {"rowId": row.row_id, "line": row.line, "label": labels.names[row.label], "weight": _round7(float(weights[i]))}
                    if aligned.quality is not None:
                        line["quality"] = _round7(aligned.quality[i])
                    if aligned.diversity is not None and args.loss == "imp":
                        line["diversity"] = _round7(aligned.diversity[i])
                    handle.write(json.dumps(line) + "\n")
            shutil.rmtree(checkpoints, ignore_errors=True)
            emit.close()
            if target:
                os.rename(stage, target)
                published = True
        state.wait_for_everyone()
        return 0
    finally:
        emit.close()
        if target and main and not published:
            shutil.rmtree(stage, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt()


def main(argv: Optional[List[str]] = None) -> int:
    # A SIGTERM (the launcher cancelling) unwinds like Ctrl-C, so the staging folder is removed.
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    try:
        return run(args)
    except DataError as error:
        sys.stderr.write(f"error: {error}\n")
        return 3
    except KeyboardInterrupt:
        sys.stderr.write("cancelled; no partial run folder was left\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
