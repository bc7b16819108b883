import type { ProjectConfig } from '../config';
import type { EncoderHeadSettings } from '../train/encoderHeadTraining';
import { resolveEncoderHeadSettings } from './settings';

/** Model folders for the quality and diversity checkers; undefined: train the built-in one. */
export interface CheckerModels {
  quality: string | undefined;
  diversity: string | undefined;
}

/**
 * Which checker models may run. Settings win over dimp.config.json. In an untrusted workspace, models named
 * by the workspace are not run: VS Code already hides workspace values of the two settings (they are
 * `restrictedConfigurations`), so what is left of them is the user's own; the config file's models are
 * dropped and listed in `ignored`, so the user can be told.
 */
export function checkerModelsToRun(trusted: boolean, fromSettings: CheckerModels, fromConfig: CheckerModels): CheckerModels & { ignored: string[] } {
  const ignored = trusted ? [] : [fromConfig.quality, fromConfig.diversity].filter((m): m is string => m !== undefined);
  return {
    quality: fromSettings.quality ?? (trusted ? fromConfig.quality : undefined),
    diversity: fromSettings.diversity ?? (trusted ? fromConfig.diversity : undefined),
    ignored,
  };
}

/** The checkers a score job runs: model folders, or heads to train on an encoder, or the built-in ones. */
export interface CheckerChoice extends CheckerModels {
  /** Train the checkers as heads on this encoder (the config's `encoder`), as the CLI does. */
  checkerEncoder: EncoderHeadSettings | undefined;
  /** Models or encoders the workspace names that are not run because it is not trusted. */
  ignored: string[];
}

/**
 * The one rule for which checkers a job runs, for the CLI (always trusted), Score Synthetic Data and the
 * Train commands alike: model folders from settings, then from dimp.config.json, and the config's encoder
 * for checkers trained as heads; in an untrusted workspace nothing the workspace names is run.
 */
export function resolveCheckerChoice(config: ProjectConfig, trusted: boolean, fromSettings: CheckerModels, base: string): CheckerChoice {
  const models = checkerModelsToRun(trusted, fromSettings, { quality: config.models?.quality, diversity: config.models?.diversity });
  const encoder = trusted ? resolveEncoderHeadSettings(config, {}, base) : undefined;
  const ignored = [...models.ignored, ...(!trusted && config.encoder ? [config.encoder.path] : [])];
  return { quality: models.quality, diversity: models.diversity, checkerEncoder: encoder, ignored };
}
