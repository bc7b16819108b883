/**
 * The panel's three charts (training loss, validation accuracy, weight histogram), drawn with chart.js
 * in the theme's colours. Only the controllers, elements and plugins used are registered, so the bundle
 * carries nothing else of chart.js.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
  type ScaleOptions,
} from 'chart.js';
import type { EpochPoint, LossPoint } from '../../src/protocol/trainingPanel';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, LinearScale, CategoryScale, Legend, Tooltip);

/** Colours and font read from the theme's CSS variables. */
interface ThemeColours {
  foreground: string;
  muted: string;
  grid: string;
  blue: string;
  orange: string;
  green: string;
  purple: string;
  yellow: string;
  fontFamily: string;
  fontSize: number;
}

function cssVariable(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value === '' ? fallback : value;
}

/** The theme's colours now (re-read when the theme changes). */
export function readThemeColours(): ThemeColours {
  return {
    foreground: cssVariable('--vscode-editor-foreground', cssVariable('--vscode-foreground', '#cccccc')),
    muted: cssVariable('--vscode-descriptionForeground', '#9d9d9d'),
    grid: cssVariable('--vscode-charts-lines', 'rgba(128, 128, 128, 0.35)'),
    blue: cssVariable('--vscode-charts-blue', '#3794ff'),
    orange: cssVariable('--vscode-charts-orange', '#d18616'),
    green: cssVariable('--vscode-charts-green', '#89d185'),
    purple: cssVariable('--vscode-charts-purple', '#b180d7'),
    yellow: cssVariable('--vscode-charts-yellow', '#cca700'),
    fontFamily: cssVariable('--vscode-font-family', 'sans-serif'),
    fontSize: Number.parseFloat(cssVariable('--vscode-font-size', '13')) || 13,
  };
}

/** A colour with an alpha, for fills: `#rrggbb` or `rgb(…)` in, `rgba(…)` out. */
function withAlpha(colour: string, alpha: number): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(colour);
  if (hex) {
    const n = Number.parseInt(hex[1]!, 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(colour);
  if (rgb) {
    const [r, g, b] = rgb[1]!.split(',').map((s) => s.trim());
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  return colour;
}

function axis(theme: ThemeColours, title: string, extra: ScaleOptions<'linear'> = {}): ScaleOptions<'linear'> {
  return {
    type: 'linear',
    title: { display: true, text: title, color: theme.muted, font: { family: theme.fontFamily, size: theme.fontSize - 1 } },
    ticks: { color: theme.foreground, font: { family: theme.fontFamily, size: theme.fontSize - 2 } },
    grid: { color: theme.grid },
    border: { color: theme.grid },
    ...extra,
  };
}

function commonOptions(theme: ThemeColours): { plugins: object } {
  return {
    plugins: {
      // Legend entries drawn as short lines, dashed like their datasets.
      legend: { labels: { color: theme.foreground, usePointStyle: true, pointStyle: 'line', boxWidth: 24, font: { family: theme.fontFamily, size: theme.fontSize - 1 } } },
      tooltip: { titleFont: { family: theme.fontFamily }, bodyFont: { family: theme.fontFamily } },
    },
  };
}

/** Bin labels of a weight histogram: `< 0.01`, `0.01–0.03`, …, `≥ 100`. */
export function binLabels(edges: readonly (number | null)[]): string[] {
  const labels: string[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const low = edges[i];
    const high = edges[i + 1];
    if (i === 0 && low === 0) labels.push(`< ${high}`);
    else if (high === null || high === undefined) labels.push(`≥ ${low}`);
    else labels.push(`${low}–${high}`);
  }
  return labels;
}

/** The panel's charts; `update` redraws them from the state without animation. */
export class TrainingCharts {
  private readonly loss: Chart<'line', { x: number; y: number }[]>;
  private readonly accuracy: Chart<'line', { x: number; y: number }[]>;
  private readonly weights: Chart<'bar', number[], string>;
  private theme: ThemeColours;

  constructor(canvases: { loss: HTMLCanvasElement; accuracy: HTMLCanvasElement; weights: HTMLCanvasElement }) {
    const theme = readThemeColours();
    this.theme = theme;
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.responsive = true;
    this.loss = new Chart(canvases.loss, {
      type: 'line',
      data: { datasets: [] },
      options: { ...commonOptions(theme), parsing: false, normalized: true, scales: {} },
    });
    this.accuracy = new Chart(canvases.accuracy, {
      type: 'line',
      data: { datasets: [] },
      options: { ...commonOptions(theme), parsing: false, scales: {} },
    });
    this.weights = new Chart(canvases.weights, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: { ...commonOptions(theme), scales: {} },
    });
    this.applyTheme(theme);
  }

  /** Re-reads the theme's colours and fonts (after a theme change). */
  applyTheme(theme: ThemeColours = readThemeColours()): void {
    const epochAxis = (max: number | undefined): ScaleOptions<'linear'> =>
      axis(theme, 'epoch', { min: 0, ...(max ? { max } : {}), ticks: { color: theme.foreground, precision: 0, font: { family: theme.fontFamily, size: theme.fontSize - 2 } } });
    this.loss.options.scales = { x: epochAxis(undefined), y: axis(theme, 'loss', { beginAtZero: true }) };
    this.accuracy.options.scales = { x: epochAxis(undefined), y: axis(theme, 'accuracy (%)', { suggestedMin: 50, suggestedMax: 100 }) };
    this.weights.options.scales = {
      x: { type: 'category', title: { display: true, text: 'weight', color: theme.muted }, ticks: { color: theme.foreground, font: { family: theme.fontFamily, size: theme.fontSize - 2 } }, grid: { display: false }, border: { color: theme.grid } },
      y: axis(theme, 'rows', { beginAtZero: true }),
    };
    for (const chart of [this.loss, this.accuracy, this.weights]) Object.assign(chart.options, commonOptions(theme));
    // The histogram's caption names its epoch; a one-entry legend would repeat it.
    const weightsLegend = this.weights.options.plugins?.legend;
    if (weightsLegend) weightsLegend.display = false;
    this.theme = theme;
    this.loss.update('none');
    this.accuracy.update('none');
    this.weights.update('none');
  }

  /** Redraws the loss and accuracy charts, and the histogram of `histogramEpoch`. */
  update(lossPoints: readonly LossPoint[], epochs: readonly EpochPoint[], totalEpochs: number, bestEpoch: number | undefined, histogramEpoch: EpochPoint | undefined): void {
    const theme = this.theme;
    const lineStyle = (colour: string): Partial<ChartDataset<'line', { x: number; y: number }[]>> => ({
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2,
      pointRadius: 0,
      tension: 0.2,
    });
    // Markers help while there are few epochs; with many they only blur the line.
    const dots = totalEpochs <= 30;
    this.loss.data.datasets = [
      { label: 'weighted training loss', data: lossPoints.map((p) => ({ x: p.x, y: p.loss })), ...lineStyle(theme.blue) },
      {
        label: 'cross-entropy (epoch mean)',
        data: epochs.map((e) => ({ x: e.epoch, y: e.trainCrossEntropy })),
        ...lineStyle(theme.orange),
        borderDash: [5, 4],
        pointRadius: dots ? 2.5 : 0,
      },
    ];
    const xMax = Math.max(1, totalEpochs);
    const lossScale = this.loss.options.scales?.x;
    if (lossScale) lossScale.max = xMax;
    const accuracyScale = this.accuracy.options.scales?.x;
    if (accuracyScale) accuracyScale.max = xMax;

    const withValidation = epochs.filter((e) => e.validation);
    const withTest = epochs.filter((e) => e.test);
    this.accuracy.data.datasets = [
      {
        label: 'validation accuracy',
        data: withValidation.map((e) => ({ x: e.epoch, y: e.validation!.accuracy * 100 })),
        ...lineStyle(theme.green),
        pointRadius: withValidation.map((e) => (e.epoch === bestEpoch ? 6 : dots ? 2.5 : 0)),
        pointBackgroundColor: withValidation.map((e) => (e.epoch === bestEpoch ? theme.yellow : theme.green)),
      },
      { label: 'test accuracy (report only)', data: withTest.map((e) => ({ x: e.epoch, y: e.test!.accuracy * 100 })), ...lineStyle(theme.purple), borderDash: [4, 4], pointRadius: dots ? 1.5 : 0 },
    ];

    if (histogramEpoch) {
      this.weights.data.labels = binLabels(histogramEpoch.weights.edges);
      this.weights.data.datasets = [
        {
          label: `epoch ${histogramEpoch.epoch}`,
          data: histogramEpoch.weights.counts,
          backgroundColor: withAlpha(theme.blue, 0.6),
          borderColor: theme.blue,
          borderWidth: 1,
        },
      ];
    } else {
      this.weights.data.labels = [];
      this.weights.data.datasets = [];
    }
    this.loss.update('none');
    this.accuracy.update('none');
    this.weights.update('none');
  }
}
