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
