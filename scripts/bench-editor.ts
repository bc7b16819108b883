// The editor's hot paths on a 1,000,000-row JSON Lines file: decorating one viewport and answering a hover,
// as fractions of a 16 ms frame (p50 and p99), and the memory of the score cache. It measures the pure
// logic the extension runs on the extension host's thread (line → row id, score-table lookups, bucketing,
// badge and hover text), with a Map of row objects as the side-by-side baseline. The file is generated
// into a temporary folder and removed afterwards. Prints a Markdown section on stdout.
// Usage: node out/scripts/bench-editor.js [--rows N] [--samples N]
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { constants as perfConstants, performance, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseJsonlFile } from '../src/core/data/dataset';
import { LabelMap } from '../src/core/data/labels';
import { SeededRandom } from '../src/core/random';
import { LineRows } from '../src/core/view/lineRows';
import { rowHoverMarkdown, type ScoreProvenance } from '../src/core/view/rowHover';
import { annotateLines, linesToDecorate } from '../src/core/view/weightHeat';
import type { RowScore } from '../src/core/weighting/score';
import { ScoreTable } from '../src/core/weighting/scoreTable';

const FRAME_MS = 16;
/** A tall editor: 60 visible lines; the extension decorates them plus max(20, height) lines on each side. */
const VIEWPORT_LINES = 60;
const LABELS = ['negative', 'neutral', 'positive'];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, samples: { type: 'string', default: '2000' } } });
const ROWS = Number(values.rows);
const SAMPLES = Number(values.samples);

function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Wall time of each call of `body` (p50, p99, ms), and its CPU time (`process.cpuUsage`: user + system time of
 * all the process's threads, GC helpers included, µs resolution), which leaves out the waits for a core that
 * dominate the wall time's p99 on a loaded machine.
 */
function timeEach(samples: number, body: (i: number) => void): { p50: number; p99: number; cpuP50: number; cpuP99: number } {
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < samples; i++) {
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    body(i);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    const cpu = process.cpuUsage(cpuStart);
    cpuTimes.push((cpu.user + cpu.system) / 1e3);
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), cpuP50: quantile(cpuTimes, 0.5), cpuP99: quantile(cpuTimes, 0.99) };
}

/** Every garbage collection of the run: when it began (performance.now()), how long it paused, and its generation. */
const collections: { startTime: number; duration: number; young: boolean }[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const young = (entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR;
    collections.push({ startTime: entry.startTime, duration: entry.duration, young });
  }
}).observe({ entryTypes: ['gc'] });

/**
 * The collections that began between `from` and `to` (performance.now()); the observer hears of them some
 * turns of the event loop later, so this waits a moment first.
 */
async function collectionsBetween(from: number, to: number): Promise<{ young: number; youngMs: number; other: number; otherMs: number }> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  const during = collections.filter((c) => c.startTime >= from && c.startTime < to);
  const sum = (list: typeof during): number => list.reduce((total, c) => total + c.duration, 0);
  const young = during.filter((c) => c.young);
  const other = during.filter((c) => !c.young);
  return { young: young.length, youngMs: sum(young), other: other.length, otherMs: sum(other) };
}

const retained = (): number => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const ms = (x: number): string => `${x < 0.1 ? x.toFixed(3) : x.toFixed(2)} ms`;
const frame = (x: number): string => `${((100 * x) / FRAME_MS).toFixed(2)} %`;

/** Writes ROWS distinct rows built from the bundled sample's sentences. */
async function writeBigFile(file: string): Promise<void> {
  const sentences = readFileSync(path.join(__dirname, '..', '..', 'sample', 'synthetic.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { sentence: string; label: number });
  const out = createWriteStream(file);
  let chunk: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const row = sentences[i % sentences.length]!;
    chunk.push(JSON.stringify({ sentence: `${row.sentence} (#${i})`, label: row.label }));
    if (chunk.length === 10_000) {
      if (!out.write(chunk.join('\n') + '\n')) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = [];
    }
  }
  out.write(chunk.length ? chunk.join('\n') + '\n' : '');
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dimp-bench-editor-'));
  try {
    const file = path.join(dir, 'synthetic.jsonl');
    let started = Date.now();
    await writeBigFile(file);
    const writeSeconds = (Date.now() - started) / 1000;
    started = Date.now();
    const parsed = await parseJsonlFile(file);
    const parseSeconds = (Date.now() - started) / 1000;
    // Scores with the distribution of real ones are not needed to time lookups: q and d are drawn at random.
    const random = new SeededRandom(1);
    let scores: RowScore[] | undefined = parsed.lines.map((line) => {
      const quality = random.next();
      const diversity = Math.max(1e-3, random.next());
      const label = LABELS[Number(line.rawLabel)]!;
      return { rowId: line.rowId, line: line.line, label, quality, diversity, impWeight: quality / diversity, qualityLabel: label, qualityLabelProbability: quality };
    });
    const lines = readFileSync(file, 'utf8').split('\n');
    const fields = parsed.fields;
    parsed.lines.length = 0;

    // Memory: the table as the extension host holds it (built in the worker, transferred), against a Map of row objects.
    const beforeTable = retained();
    started = Date.now();
    const table = ScoreTable.fromScores(scores, LABELS);
    const buildSeconds = (Date.now() - started) / 1000;
    const tableRetained = retained() - beforeTable;
    const beforeMap = retained();
    let map: Map<string, RowScore> | undefined = new Map(scores.map((s) => [s.rowId, { ...s }]));
    const mapRetained = retained() - beforeMap;
    const random2 = new SeededRandom(2);
    // Fresh strings, as the extension computes them from line text.
    const ids = Array.from({ length: SAMPLES }, () => ` ${scores![Math.floor(random2.next() * scores!.length)]!.rowId}`.slice(1));
    const lookups = 1000;
    const tableLookup = timeEach(SAMPLES, (i) => {
      for (let k = 0; k < lookups; k++) table.indexOf(ids[(i + k) % SAMPLES]!);
    });
    const mapLookup = timeEach(SAMPLES, (i) => {
      for (let k = 0; k < lookups; k++) map!.get(ids[(i + k) % SAMPLES]!);
    });
    // From here on the process holds what the extension host holds: the document's lines and the table.
    map = undefined;
    scores = undefined;
    gc();

    const labelMap = new LabelMap(LABELS);
    const textAt = (n: number): string => lines[n]!;
    const provenance: ScoreProvenance = { qualityChecker: 'built-in n-gram', diversityChecker: 'built-in n-gram', provider: 'cpu', dimpRun: undefined };
    const lineCount = lines.length;
    const randomTop = (): number => Math.floor(random2.next() * (lineCount - VIEWPORT_LINES));

    // One decoration pass after scrolling to an unseen part of the file (every line parsed and hashed), and
    // one over lines already parsed (a re-pass after an edit elsewhere, or a toggle).
    let rows = new LineRows(fields, labelMap, lineCount);
    const pass = (top: number): void => {
      const visible = [{ start: top, end: top + VIEWPORT_LINES - 1 }];
      annotateLines(linesToDecorate(visible, lineCount, Math.max(20, VIEWPORT_LINES)), rows, textAt, table);
    };
    for (let i = 0; i < 200; i++) pass(randomTop()); // warm up the JIT
    const loadAverage = os.loadavg().map((x) => x.toFixed(1)).join(' / ');
    const coldTops = Array.from({ length: SAMPLES }, randomTop);
    const coldFrom = performance.now();
    const decorateCold = timeEach(SAMPLES, (i) => pass(coldTops[i]!));
    const cold = await collectionsBetween(coldFrom, performance.now());
    const decorateWarm = timeEach(SAMPLES, (i) => pass(coldTops[i]!));
    rows = new LineRows(fields, labelMap, lineCount);
    const hoverLines = Array.from({ length: SAMPLES }, randomTop);
    const hover = timeEach(SAMPLES, (i) => {
      const state = rows.stateAt(hoverLines[i]!, textAt);
      if (state.kind === 'row') rowHoverMarkdown(table, table.indexOf(state.rowId), provenance, 0.8);
    });
    const out = [
      '## Editor: decorations, hovers and the score cache',
      '',
      `${table.size.toLocaleString('en-US')} rows (${mb(lines.reduce((a, l) => a + l.length + 1, 0))} of JSON Lines, written in ${writeSeconds.toFixed(1)} s, read by the core in ${parseSeconds.toFixed(1)} s), ` +
        `${VIEWPORT_LINES} visible lines, ${SAMPLES} samples each, Node ${process.versions.node}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, load average ${loadAverage} when the timing began. ` +
        'Times are for the logic the extension runs on its host thread; a 16 ms frame is the budget.',
      '',
      '| operation | p50 | p99 | p50 / frame | p99 / frame |',
      '|---|---:|---:|---:|---:|',
      `| decorate a viewport, lines not seen before (parse + row id + lookup + badge, ${VIEWPORT_LINES * 3} lines with overscan) | ${ms(decorateCold.p50)} | ${ms(decorateCold.p99)} | ${frame(decorateCold.p50)} | ${frame(decorateCold.p99)} |`,
      `| decorate a viewport, lines already parsed | ${ms(decorateWarm.p50)} | ${ms(decorateWarm.p99)} | ${frame(decorateWarm.p50)} | ${frame(decorateWarm.p99)} |`,
      `| answer a hover (parse the line, look up, build the Markdown) | ${ms(hover.p50)} | ${ms(hover.p99)} | ${frame(hover.p50)} | ${frame(hover.p99)} |`,
      '',
      `CPU time of a pass (not counting waits for a core): lines not seen before p50 ${ms(decorateCold.cpuP50)}, p99 ${ms(decorateCold.cpuP99)} (${frame(decorateCold.cpuP99)} of a frame); ` +
        `lines already parsed p50 ${ms(decorateWarm.cpuP50)}, p99 ${ms(decorateWarm.cpuP99)}.`,
      '',
      `Garbage collection during the ${SAMPLES} cold passes: ${cold.young} young-generation collections (scavenges), ${cold.youngMs.toFixed(1)} ms of pauses in all ` +
        `(${((1000 * cold.youngMs) / SAMPLES).toFixed(0)} µs a pass on average); ${cold.other} other collections (${cold.otherMs.toFixed(1)} ms).`,
      '',
      '| score cache | size | per row | lookup of 1,000 row ids (p50) |',
      '|---|---:|---:|---:|',
      `| ScoreTable (typed columns + open addressing; what the host keeps) | ${mb(tableRetained)} (arrays ${mb(table.byteLength)}) | ${(tableRetained / table.size).toFixed(0)} B | ${ms(tableLookup.p50)} |`,
      `| baseline: Map of row id → row object | ${mb(mapRetained)} | ${(mapRetained / table.size).toFixed(0)} B | ${ms(mapLookup.p50)} |`,
      `| ratio (table / baseline) | ${(tableRetained / mapRetained).toFixed(2)} | | ${(tableLookup.p50 / mapLookup.p50).toFixed(2)} |`,
      '',
      `The table is built in the scoring worker (${buildSeconds.toFixed(1)} s here) and transferred to the extension host without a copy, ` +
        'so its size above is also the peak the host holds for it.',
      '',
    ];
    process.stdout.write(out.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
