/**
 * The training panel's page: builds its DOM once, keeps the panel state (whole from the host on load,
 * then one update at a time, through the same reducer as the host), and redraws at most once a frame.
 */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-divider/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import type { VscodeProgressBar } from '@vscode-elements/elements/dist/vscode-progress-bar/vscode-progress-bar.js';
import { dispatchMessage } from '../../src/protocol/messages';
import { PanelMessageType, type HostToPanelMessage, type PanelRunLinkMessage, type TrainingPanelState } from '../../src/protocol/trainingPanel';
import { applyTrainingUpdate, emptyTrainingState, isActivePhase } from '../../src/protocol/trainingState';
import type { LossKind, WeightHistogram } from '../../src/protocol/events';
import { compareRuns, type LossComparison, type MeanSd } from '../../src/protocol/runComparison';
import { TrainingCharts } from './charts';
import { panelHost } from './vscodeApi';

/** How the panel's heading names each loss (defined before any top-level code renders). */
const LOSS_HEADINGS: Record<LossKind, string> = { dimp: 'DIMP', imp: 'IMP', ce: 'CE', quality: 'Quality-weighted', filter: 'Quality-filtered CE' };

const host = panelHost();
let state: TrainingPanelState = host.getState() ?? emptyTrainingState();
/** The epoch whose weight histogram is shown; undefined follows the latest epoch. */
let pinnedHistogramEpoch: number | undefined;

const PHASE_TITLES: Record<TrainingPanelState['phase'], string> = {
  idle: 'Idle',
  preparing: 'Preparing',
  scoring: 'Scoring',
  training: 'Training',
  finished: 'Finished',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing`);
  return node as T;
}

const basename = (file: string): string => file.split(/[\\/]/).pop() ?? file;
const percent = (x: number | undefined): string => (x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);
const integer = (x: number | undefined): string => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));

function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function stat(id: string, title: string): HTMLElement {
  return element('div', { class: 'stat' }, element('dt', {}, title), element('dd', { id }, '–'));
}

function chartCard(id: string, title: string, description: string, extra?: HTMLElement): HTMLElement {
  const caption = element('figcaption', {}, element('span', { class: 'card-title' }, title), element('span', { class: 'card-description' }, description));
  if (extra) caption.append(extra);
  return element(
    'figure',
    { class: 'card chart-card', id: `${id}-card`, 'data-points': '0' },
    caption,
    element('div', { class: 'chart' }, element('canvas', { id: `${id}-chart`, role: 'img', 'aria-label': title })),
  );
}

/** Builds the page's fixed structure. */
function buildPage(root: HTMLElement): void {
  const scrubber = element('input', { id: 'histogram-epoch', type: 'range', min: '1', max: '1', value: '1', 'aria-label': 'epoch of the weight histogram' });
  root.append(
    element(
      'header',
      { class: 'head' },
      element(
        'div',
        { class: 'title' },
        element('h1', { id: 'heading' }, 'Training'),
        element('vscode-badge', { id: 'loss-badge', variant: 'counter' }, '–'),
        element('span', { id: 'file', class: 'file' }),
      ),
      element('vscode-button', { id: 'cancel', secondary: '', title: 'Stop the run; it leaves no partial outputs' }, 'Cancel'),
    ),
    element(
      'section',
      { class: 'status', 'aria-label': 'progress' },
      element('div', { class: 'phase-line' }, element('span', { id: 'phase', class: 'phase' }), element('span', { id: 'message', class: 'message' })),
      element('vscode-progress-bar', { id: 'progress', 'aria-label': 'training progress' }),
      element(
        'dl',
        { class: 'stats' },
        stat('stat-epoch', 'Epoch'),
        stat('stat-step', 'Step'),
        stat('stat-rate', 'Throughput'),
        stat('stat-eta', 'Time left'),
        stat('stat-best', 'Best validation acc.'),
      ),
    ),
    element(
      'section',
      { class: 'charts' },
      chartCard('loss', 'Training loss', 'weighted loss as trained, and plain cross-entropy per epoch'),
      chartCard('accuracy', 'Validation accuracy', 'per epoch; the largest point is the kept (best) epoch'),
      chartCard('weights', 'Weight distribution', 'rows per weight bin', element('label', { class: 'scrubber' }, element('span', { id: 'histogram-label' }, 'epoch –'), scrubber)),
    ),
    element(
      'section',
      { id: 'result', class: 'card result', hidden: '' },
      element('h2', {}, 'Result'),
      element(
        'dl',
        { class: 'stats metrics' },
        stat('result-best', 'Best epoch'),
        stat('result-validation', 'Validation accuracy'),
        stat('result-test', 'Test accuracy'),
        stat('result-f1', 'Test macro-F1'),
        stat('result-rows', 'Rows trained'),
        stat('result-rate', 'Throughput'),
        stat('result-time', 'Time'),
        stat('result-provider', 'Provider'),
      ),
      element(
        'div',
        { class: 'links' },
        element('vscode-button', { id: 'reveal-run' }, 'Reveal run folder'),
        element('vscode-button', { id: 'open-model', secondary: '' }, 'Open model'),
        element('vscode-button', { id: 'open-metrics', secondary: '' }, 'Open metrics.json'),
      ),
      element('code', { id: 'run-dir', class: 'path' }),
    ),
    element(
      'section',
      { class: 'card history' },
      element('h2', { id: 'history-title' }, 'Runs on this data'),
      element(
        'table',
        { id: 'comparison' },
        element(
          'thead',
          {},
          element('tr', {}, ...['Loss', 'Seeds', 'Test acc. (mean ± sd)', 'Test macro-F1 (mean ± sd)', 'Test acc. − CE (paired by seed)'].map((title) => element('th', { scope: 'col' }, title))),
        ),
        element('tbody', { id: 'comparison-rows' }),
      ),
      element('p', { id: 'comparison-note', class: 'muted' }),
      element(
        'table',
        { id: 'history' },
        element(
          'thead',
          {},
          element('tr', {}, ...['Run', 'Loss', 'Best epoch', 'Validation acc.', 'Test acc.', 'Test macro-F1', 'Seed'].map((title) => element('th', { scope: 'col' }, title))),
        ),
        element('tbody', { id: 'history-rows' }),
      ),
      element('p', { id: 'history-empty', class: 'muted' }, 'No finished runs on this data yet.'),
    ),
    element('vscode-collapsible', { id: 'log-section', heading: 'Log' }, element('pre', { id: 'log', class: 'log' })),
  );
}

function post(message: Parameters<typeof host.postMessage>[0]): void {
  host.postMessage(message);
}

function linkTo(type: PanelRunLinkMessage['type'], runDir: string | undefined): void {
  if (runDir) post({ type, runDir });
}

function wireControls(): void {
  byId('cancel').addEventListener('click', () => post({ type: PanelMessageType.cancel }));
  byId('reveal-run').addEventListener('click', () => linkTo(PanelMessageType.revealRunFolder, state.result?.runDir));
  byId('open-model').addEventListener('click', () => linkTo(PanelMessageType.openModel, state.result?.runDir));
  byId('open-metrics').addEventListener('click', () => linkTo(PanelMessageType.openMetrics, state.result?.runDir));
  byId<HTMLInputElement>('histogram-epoch').addEventListener('input', (event) => {
    const value = Number((event.target as HTMLInputElement).value);
    // Dragging to the last epoch follows new epochs again.
    pinnedHistogramEpoch = value >= state.epochs.length ? undefined : value;
    scheduleRender();
  });
  byId('history-rows').addEventListener('click', (event) => {
    const link = (event.target as HTMLElement).closest<HTMLElement>('[data-run-dir]');
    if (!link) return;
    event.preventDefault();
    linkTo(PanelMessageType.revealRunFolder, link.dataset.runDir);
  });
}

function setText(id: string, text: string): void {
  const node = byId(id);
  if (node.textContent !== text) node.textContent = text;
}

const points = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`;
const spread = (x: MeanSd | undefined): string => (x === undefined ? '–' : x.n < 2 ? percent(x.mean) : `${percent(x.mean)} ± ${(x.sd * 100).toFixed(1)}`);

function versusCe(loss: LossComparison): HTMLTableCellElement {
  const d = loss.versusCe;
  if (loss.loss === 'ce') return element('td', { class: 'number muted' }, 'baseline');
  if (!d) return element('td', { class: 'number muted' }, 'no CE run with the same seed');
  const text = d.se === undefined ? `${points(d.mean)} (1 seed: run more seeds to compare)` : `${points(d.mean)} ± ${(d.se * 100).toFixed(1)} (${d.pairs} seeds${d.clear ? '' : ', within the noise'})`;
  return element('td', { class: `number ${d.clear ? (d.mean > 0 ? 'gain' : 'loss-diff') : 'muted'}` }, text);
}

function renderComparison(): void {
  const comparison = compareRuns(state.history);
  byId('comparison-rows').replaceChildren(
    ...comparison.losses.map((loss) =>
      element(
        'tr',
        {},
        element('td', {}, element('span', { class: `loss loss-${loss.loss}` }, loss.loss.toUpperCase())),
        element('td', { class: 'number' }, loss.seeds.join(', ')),
        element('td', { class: 'number' }, spread(loss.accuracy)),
        element('td', { class: 'number' }, spread(loss.macroF1)),
        versusCe(loss),
      ),
    ),
  );
  byId('comparison').hidden = comparison.losses.length === 0;
  const majority = comparison.majority === undefined ? '' : `Always guessing the test rows' most frequent class scores ${percent(comparison.majority)}. `;
  setText('comparison-note', comparison.losses.length === 0 ? '' : `${majority}A difference is called only with two or more seeds run with both losses and a mean larger than twice its standard error; no single run is a winner.`);
}

function renderHistory(): void {
  renderComparison();
  const rows = byId('history-rows');
  const currentRun = state.result?.runDir;
  rows.replaceChildren(
    ...state.history.map((run) =>
      element(
        'tr',
        run.runDir === currentRun ? { class: 'current' } : {},
        element('td', {}, element('a', { href: '#', 'data-run-dir': run.runDir, title: run.runDir }, run.runName)),
        element('td', {}, element('span', { class: `loss loss-${run.loss}` }, run.loss.toUpperCase())),
        element('td', { class: 'number' }, `${run.bestEpoch} / ${run.epochs}`),
        element('td', { class: 'number' }, percent(run.validation?.accuracy)),
        element('td', { class: 'number' }, percent(run.test?.accuracy)),
        element('td', { class: 'number' }, percent(run.test?.macroF1)),
        element('td', { class: 'number' }, String(run.seed)),
      ),
    ),
  );
  byId('history').hidden = state.history.length === 0;
  byId('history-empty').hidden = state.history.length > 0;
  setText('history-title', state.job ? `Runs on ${basename(state.job.syntheticFile)}: CE vs IMP vs DIMP` : 'Runs on this data');
}

let charts: TrainingCharts | undefined;
let renderQueued = false;

function render(): void {
  renderQueued = false;
  const { job, phase, result } = state;
  const active = isActivePhase(phase);
  document.body.dataset.phase = phase;
  setText('loss-badge', job ? job.loss.toUpperCase() : '–');
  // The heading names the run's loss: a CE run is not "DIMP training".
  setText('heading', job ? `${LOSS_HEADINGS[job.loss]} training` : 'Training');
  setText('file', job ? basename(job.syntheticFile) : '');
  byId('file').title = job?.syntheticFile ?? '';
  (byId('cancel') as HTMLElement & { disabled: boolean }).disabled = !active;
  setText('phase', PHASE_TITLES[phase]);
  setText('message', state.message);

  const progress = byId<VscodeProgressBar>('progress');
  const fraction = phase === 'training' && state.totalSteps > 0 ? state.step / state.totalSteps : phase === 'scoring' ? state.scoringFraction : phase === 'finished' ? 1 : undefined;
  progress.hidden = !active && phase !== 'finished';
  progress.max = 100;
  progress.value = fraction === undefined ? undefined : Math.round(fraction * 1000) / 10;
  progress.indeterminate = active && fraction === undefined;

  const lastEpoch = state.epochs[state.epochs.length - 1];
  const best = state.epochs.reduce<(typeof state.epochs)[number] | undefined>((b, e) => (e.validation && (!b?.validation || e.validation.accuracy > b.validation.accuracy) ? e : b), undefined);
  setText('stat-epoch', job ? `${lastEpoch?.epoch ?? 0} / ${job.epochs}` : '–');
  setText('stat-step', state.totalSteps > 0 ? `${integer(state.step)} / ${integer(state.totalSteps)}` : '–');
  // While training: the recent rate; at the end: the run's overall rate, as in the result.
  const rowsPerSecond = result?.rowsPerSecond ?? state.rowsPerSecond;
  setText('stat-rate', rowsPerSecond === undefined ? '–' : `${integer(rowsPerSecond)} rows/s`);
  setText('stat-eta', active ? duration(state.etaSeconds) : phase === 'finished' ? 'done' : '–');
  setText('stat-best', best?.validation ? `${percent(best.validation.accuracy)} (epoch ${best.epoch})` : '–');

  const scrubber = byId<HTMLInputElement>('histogram-epoch');
  scrubber.max = String(Math.max(1, state.epochs.length));
  scrubber.disabled = state.epochs.length < 2;
  if (pinnedHistogramEpoch !== undefined && pinnedHistogramEpoch > state.epochs.length) pinnedHistogramEpoch = undefined;
  const shownEpoch = pinnedHistogramEpoch !== undefined ? state.epochs[pinnedHistogramEpoch - 1] : lastEpoch;
  scrubber.value = String(shownEpoch?.epoch ?? 1);
  setText('histogram-label', shownEpoch ? histogramLabel(shownEpoch.epoch, shownEpoch.weights) : 'epoch –');
  const dominated = shownEpoch !== undefined && weightsDominated(shownEpoch.weights);
  byId('weights-card').classList.toggle('dominated', dominated);
  byId('histogram-label').title = dominated ? 'A few rows dominate the loss: the top 1 % of rows hold a large share of the total weight. Consider a maximum weight or better checkers.' : '';

  charts?.update(state.lossPoints, state.epochs, job?.epochs ?? 1, result?.bestEpoch ?? best?.epoch, shownEpoch);
  byId('loss-card').dataset.points = String(state.lossPoints.length);
  byId('accuracy-card').dataset.points = String(state.epochs.filter((e) => e.validation).length);
  byId('weights-card').dataset.points = String(state.epochs.length);

  const resultSection = byId('result');
  resultSection.hidden = !result;
  if (result) {
    setText('result-best', `${result.bestEpoch} of ${state.epochs.length}`);
    setText('result-validation', percent(result.validation?.accuracy));
    setText('result-test', percent(result.test?.accuracy));
    setText('result-f1', percent(result.test?.macroF1));
    setText('result-rows', `${integer(result.trainingRows)}${result.unscoredRows > 0 ? ` (${integer(result.unscoredRows)} unscored left out)` : ''}`);
    setText('result-rate', `${integer(result.rowsPerSecond)} rows/s`);
    setText('result-time', duration(result.seconds));
    setText('result-provider', result.provider);
    setText('run-dir', result.runDir);
  }
  renderHistory();
  const log = byId('log');
  const text = state.log.join('\n');
  if (log.textContent !== text) log.textContent = text;
  // Kept by VS Code across hides and reloads; the host re-sends its own copy too.
  host.setState(state);
}

function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function main(): void {
  const root = byId('app');
  buildPage(root);
  wireControls();
  charts = new TrainingCharts({
    loss: byId<HTMLCanvasElement>('loss-chart'),
    accuracy: byId<HTMLCanvasElement>('accuracy-chart'),
    weights: byId<HTMLCanvasElement>('weights-chart'),
  });
  // VS Code swaps the body's theme class (vscode-dark, vscode-light, …) when the theme changes.
  new MutationObserver(() => {
    charts?.applyTheme();
    scheduleRender();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });

  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    dispatchMessage<HostToPanelMessage>(
      {
        [PanelMessageType.state]: (message) => {
          state = message.state;
          pinnedHistogramEpoch = undefined;
          scheduleRender();
        },
        [PanelMessageType.update]: (message) => {
          applyTrainingUpdate(state, message.update);
          scheduleRender();
        },
      },
      event.data,
    );
  });
  render();
  post({ type: PanelMessageType.ready });
}

main();

/** The weight card's caption: mean, max, and the effective share of the rows when the run recorded it. */
function histogramLabel(epoch: number, weights: WeightHistogram): string {
  const effective = weights.effectiveShare !== undefined ? ` · effective rows ${(weights.effectiveShare * 100).toFixed(0)}%` : '';
  const top = weights.top1PercentShare !== undefined ? ` · top 1% hold ${(weights.top1PercentShare * 100).toFixed(0)}%` : '';
  return `epoch ${epoch} · mean ${weights.mean.toFixed(3)} · max ${weights.max.toPrecision(3)}${effective}${top}`;
}

/** As the CLI's warning (DOMINANCE_THRESHOLDS in src/core/weighting/weights.ts). */
function weightsDominated(weights: WeightHistogram): boolean {
  const rows = weights.counts.reduce((a, b) => a + b, 0);
  return (weights.effectiveShare !== undefined && weights.effectiveShare < 0.1) || (rows >= 100 && weights.top1PercentShare !== undefined && weights.top1PercentShare > 0.2);
}
