/**
 * Command ids of the extension, in one place; `package.json`'s `contributes.commands` must list the
 * same ids (a unit test checks).
 */
export const CommandId = {
  scoreSyntheticData: 'dimpCurator.scoreSyntheticData',
  trainDimp: 'dimpCurator.trainDimp',
  trainImp: 'dimpCurator.trainImp',
  trainBaseline: 'dimpCurator.trainBaseline',
  trainCheckers: 'dimpCurator.trainCheckers',
  sortLinesByWeight: 'dimpCurator.sortLinesByWeight',
  showLowestQualitySamples: 'dimpCurator.showLowestQualitySamples',
  exportCuratedDataset: 'dimpCurator.exportCuratedDataset',
  configureFields: 'dimpCurator.configureFields',
  toggleWeightDecorations: 'dimpCurator.toggleWeightDecorations',
  selectExecutionProvider: 'dimpCurator.selectExecutionProvider',
  openTrainingPanel: 'dimpCurator.openTrainingPanel',
  cancelTraining: 'dimpCurator.cancelTraining',
  showLowestWeightSamples: 'dimpCurator.showLowestWeightSamples',
  filterSamplesByLabel: 'dimpCurator.filterSamplesByLabel',
  /** Reveals a row of the samples view: arguments (uri, 1-based line); not in the command palette. */
  revealSample: 'dimpCurator.revealSample',
  /** Cancels a running scoring job. */
  cancelScoring: 'dimpCurator.cancelScoring',
  /** Review queue: sets its filter (argument: a whole `ReviewFilter`; without one, asks for one part). */
  filterReviewQueue: 'dimpCurator.filterReviewQueue',
  clearReviewQueueFilter: 'dimpCurator.clearReviewQueueFilter',
  /** Review queue order (optional argument: 'impWeight' or 'quality'; default: the current one). */
  reviewLowestFirst: 'dimpCurator.reviewLowestFirst',
  reviewHighestFirst: 'dimpCurator.reviewHighestFirst',
  showNearDuplicateGroups: 'dimpCurator.showNearDuplicateGroups',
  showReviewQueueRows: 'dimpCurator.showReviewQueueRows',
  /** Marks rows as reviewed (kept by Export): the queue's selection, `{ uri, lines }`, or the editor's cursor lines. */
  markReviewed: 'dimpCurator.markReviewed',
  unmarkReviewed: 'dimpCurator.unmarkReviewed',
  /** Keeps one row of a near-duplicate group and deletes the others in one undoable edit: a group node or `{ groupKey }`. */
  keepOneDuplicate: 'dimpCurator.keepOneDuplicate',
  /** Writes dimp.config.json from the open JSON Lines files: roles, detected fields, labels. */
  createProjectConfig: 'dimpCurator.createProjectConfig',
} as const;

/** Any command id. */
export type CommandIdValue = (typeof CommandId)[keyof typeof CommandId];
