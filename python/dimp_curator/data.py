"""Reads DIMP Curator's data as its TypeScript core does (src/core/data): JSON Lines rows identified by the same
row id, labels through the same label map, and a scores file joined to the rows by row id."""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

TEXT_FIELDS = ("text", "sentence", "content")
PAIR_FIELDS = (("text1", "text2"), ("sentence1", "sentence2"), ("premise", "hypothesis"), ("question", "passage"))
LABEL_FIELDS = ("label", "labels", "class", "target")
_INTEGER = re.compile(r"^-?\d+$")


class DataError(Exception):
    """Bad input, with the file and line it was found at."""


def _js_number(value: float) -> str:
    """A number as JavaScript's JSON.stringify writes it (the row id hashes labels that way)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def compute_row_id(texts: Sequence[str], raw_label: Any) -> str:
    """The row's identity: SHA-1 of each text plus NUL, then the label as written, first 16 hex digits."""
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    label = raw_label.strip() if isinstance(raw_label, str) else _js_number(raw_label)
    digest.update(label.encode("utf-8"))
    return digest.hexdigest()[:16]


class LabelMap:
    """Label names in class-index order; `0`, `"0"` and a name line up as in src/core/data/labels.ts."""

    def __init__(self, names: Sequence[str]):
        if len(names) < 2:
            raise DataError(f"a classifier needs at least 2 labels, got {len(names)}")
        if len(set(names)) != len(names):
            raise DataError("a label appears twice in the label list")
        self.names = list(names)
        self._by_name = {name: i for i, name in enumerate(names)}
        self._by_lower: Dict[str, int] = {}
        for i, name in enumerate(names):
            self._by_lower.setdefault(name.lower(), i)
        self._numeric = all(_INTEGER.match(n) for n in names)

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, raw: Any) -> Optional[int]:
        if isinstance(raw, bool):
            return None
        if isinstance(raw, (int, float)):
            if isinstance(raw, float) and not raw.is_integer():
                return None
            return self._numeric_index(str(int(raw)), int(raw))
        if not isinstance(raw, str):
            return None
        if _INTEGER.match(raw):
            return self._numeric_index(raw, int(raw))
        found = self._by_name.get(raw)
        return found if found is not None else self._by_lower.get(raw.lower())

    def _numeric_index(self, text: str, value: int) -> Optional[int]:
        if text in self._by_name:
            return self._by_name[text]
        if self._numeric:
            return None
        return value if 0 <= value < len(self.names) else None


@dataclass
class Fields:
    """Which fields hold the text (one, or two for a pair) and the label."""

    text: List[str]
    label: str

    def to_json(self) -> Dict[str, Any]:
        return {"text": self.text, "label": self.label}


@dataclass
class Row:
    line: int
    texts: List[str]
    raw_label: Any
    row_id: str
    label: int = -1


@dataclass
class Dataset:
    file: str
    fields: Fields
    rows: List[Row]
    problems: List[Tuple[int, str]] = field(default_factory=list)


def detect_fields(sample: Dict[str, Any]) -> Fields:
    """The default mapping of PRODUCT §3: a single text field, else a pair, and a label field."""
    label = next((f for f in LABEL_FIELDS if f in sample), None)
    text = next(([f] for f in TEXT_FIELDS if f in sample), None) or next((list(p) for p in PAIR_FIELDS if p[0] in sample and p[1] in sample), None)
    if label is None or text is None:
        raise DataError(f"cannot detect the text and label fields from {sorted(sample)}; name them (--text-field, --label-field)")
    return Fields(text, label)


def read_jsonl(file: str, fields: Optional[Fields] = None) -> Dataset:
    """Reads a JSON Lines file; lines that cannot be used are kept as (line, reason) problems, never silently dropped."""
    try:
        with open(file, "r", encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise DataError(f"{file}: file not found") from None
    rows: List[Row] = []
    problems: List[Tuple[int, str]] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip() == "":
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append((number, f"invalid JSON: {error.msg}"))
            continue
        if not isinstance(value, dict):
            problems.append((number, "expected a JSON object"))
            continue
        if fields is None:
            fields = detect_fields(value)
        texts: List[str] = []
        reason = None
        for name in fields.text:
            item = value.get(name)
            if not isinstance(item, str):
                reason = f'missing or non-string text field "{name}"'
                break
            if item.strip() == "":
                reason = f'empty text in field "{name}"'
                break
            texts.append(item)
        raw = value.get(fields.label)
        if reason is None and (raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int, float))):
            reason = f'missing or unusable label in field "{fields.label}"'
        if reason is None and isinstance(raw, str) and (raw.strip() == "" or raw != raw.strip()):
            reason = "empty label or spaces around it"
        if reason is not None:
            problems.append((number, reason))
            continue
        rows.append(Row(number, texts, raw, compute_row_id(texts, raw)))
    if fields is None:
        raise DataError(f"{file}: no usable lines")
    return Dataset(file, fields, rows, problems)


def resolve_labels(dataset: Dataset, labels: LabelMap) -> Dataset:
    """Gives each row its class index; rows whose label is not in the map become problems."""
    kept: List[Row] = []
    for row in dataset.rows:
        index = labels.index_of(row.raw_label)
        if index is None:
            dataset.problems.append((row.line, f"unknown label {json.dumps(row.raw_label)} (labels: {', '.join(labels.names)})"))
            continue
        row.label = index
        kept.append(row)
    dataset.rows = kept
    return dataset


@dataclass
class Scores:
    header: Dict[str, Any]
    by_row_id: Dict[str, Dict[str, Any]]


def read_scores(file: str) -> Scores:
    """Reads a scores file (a `dimp-scores` header line, then one row per line keyed by row id)."""
    try:
        with open(file, "r", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    except FileNotFoundError:
        raise DataError(f"{file}: scores file not found (run `dimp-curator score` first)") from None
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise DataError(f"{file}:1: not a scores file (the first line is not JSON)") from None
    if not isinstance(header, dict) or header.get("kind") != "dimp-scores":
        raise DataError(f'{file}:1: not a scores file (no "kind": "dimp-scores" header)')
    rows: Dict[str, Dict[str, Any]] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "":
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{file}:{number}: invalid JSON: {error.msg}") from None
        rows[row["rowId"]] = row
    return Scores(header, rows)


@dataclass
class TrainingRows:
    """Synthetic rows with their q and d, aligned; rows the scores do not cover are counted and left out."""

    rows: List[Row]
    quality: Optional[List[float]]
    diversity: Optional[List[float]]
    unscored: int


def join_scores(rows: Sequence[Row], scores: Optional[Scores]) -> TrainingRows:
    if scores is None:
        return TrainingRows(list(rows), None, None, 0)
    kept, quality, diversity = [], [], []
    for row in rows:
        score = scores.by_row_id.get(row.row_id)
        if score is None:
            continue
        kept.append(row)
        quality.append(float(score["quality"]))
        diversity.append(float(score["diversity"]))
    return TrainingRows(kept, quality, diversity, len(rows) - len(kept))


def keep_top_by_quality(aligned: TrainingRows, keep: float) -> TrainingRows:
    """The `filter` baseline: the top `keep` share of rows by q (ties in row order), in their original order."""
    quality = aligned.quality or []
    count = max(1, math.floor(len(aligned.rows) * keep + 0.5))
    order = sorted(range(len(quality)), key=lambda i: (-quality[i], i))[:count]
    order.sort()
    return TrainingRows(
        [aligned.rows[i] for i in order],
        [quality[i] for i in order],
        [aligned.diversity[i] for i in order] if aligned.diversity else None,
        aligned.unscored,
    )
