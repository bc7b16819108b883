/**
 * One progress bar over a whole scoring job (reading, training the checkers, scoring, storing), for the
 * editor's notification and status bar and anyone else who shows the job's events as one percentage.
 */
import type { EventSink, ScoreProgressEvent } from '../events';

/**
 * Share of the whole job at the start and end of each stage (0–100), in the order the stages run: the
 * diversity checker (trained on the synthetic set, the larger) before the quality checker (the real rows).
 */
const STAGE_START: Record<ScoreProgressEvent['stage'], number> = { read: 0, embed: 5, 'diversity-checker': 20, 'quality-checker': 55, score: 65, write: 95 };
const STAGE_END: Record<ScoreProgressEvent['stage'], number> = { read: 5, embed: 20, 'diversity-checker': 55, 'quality-checker': 65, score: 95, write: 100 };

/** Overall progress (0–100) of a scoring job from one of its events. */
export function overallPercent(event: ScoreProgressEvent): number {
  const start = STAGE_START[event.stage];
  const within = event.total > 0 ? Math.min(1, event.done / event.total) : 0;
  return start + (STAGE_END[event.stage] - start) * within;
}

/**
 * Progress of scoring `total` rows with both checkers, as one forward-only count (the quality checker's rows,
 * then the diversity checker's), so the bar of the scoring stage never goes back.
 */
export function checkersProgress(total: number, onEvent: EventSink | undefined): { quality: (done: number) => void; diversity: (done: number) => void } {
  const report = (what: string, offset: number) => (done: number) =>
    onEvent?.({ type: 'score-progress', stage: 'score', done: offset + done, total: 2 * total, message: `${what} checker: ${done}/${total} rows` });
  return { quality: report('quality', 0), diversity: report('diversity', total) };
}
