import * as vscode from 'vscode';
import type { DeviceChoice } from '../core/runtime/onnxRuntime';

/** The settings section; every key below is `dimpCurator.<key>` in `package.json`. */
export const SETTINGS_SECTION = 'dimpCurator';

/** A typed view of `contributes.configuration`, read per resource. */
export interface EditorSettings {
  /** Execution provider for onnxruntime; undefined when not set by the user (dimp.config.json's `device` then applies). */
  executionProvider: DeviceChoice | undefined;
  /** Label names in class-index order; empty: from dimp.config.json, the model, or inferred. */
  labels: string[];
  /** Smallest weight denominator ε, when set. */
  epsilon: number | undefined;
  /** Cap on every weight (null: none), when set. */
  maxWeight: number | null | undefined;
  /** Real labelled data for the quality checker, when set (relative to the workspace folder). */
  realData: string | undefined;
  /** Quality checker model folder, when set. Not read from workspace settings in an untrusted workspace. */
  qualityModel: string | undefined;
  /** Diversity checker model folder, when set. Not read from workspace settings in an untrusted workspace. */
  diversityModel: string | undefined;
  /** Text field(s) of the synthetic data; empty: detected. */
  textFields: string[];
  /** Label field of the synthetic data; empty: detected. */
  labelField: string | undefined;
  /** Probability (0–1) above which a row whose quality checker prefers another label is flagged. */
  mislabelThreshold: number;
  /** Show weight badges and heat marks on lines. */
  showWeightDecorations: boolean;
  /** Rescore changed rows when a scored file is saved. */
  rescoreOnSave: boolean;
  /** Python interpreter of the PyTorch engine, when set. Not read from workspace settings in an untrusted workspace. */
  pythonPath: string | undefined;
}

/** Keys whose changes mean different scores or a different display. */
export type SettingKey = keyof EditorSettings;

/** A value the user set at any level; undefined when only the default applies. */
function explicit<T>(config: vscode.WorkspaceConfiguration, key: string): T | undefined {
  const inspected = config.inspect<T>(key);
  return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
}

const nonEmpty = (text: string | undefined): string | undefined => (text && text.trim() !== '' ? text.trim() : undefined);

/**
 * Reads the settings that apply to `scope` (a file or workspace folder). Window-scoped settings (the
 * execution provider, ε, the max weight, the decorations toggle: package.json) are read without the scope,
 * the others through it (or for any resource when there is no scope), so VS Code logs no warning.
 */
export function readSettings(scope?: vscode.Uri): EditorSettings {
  // Resource-scoped settings through the resource, or `null` ("any resource") when there is none: VS Code
  // logs a warning for every resource-scoped value read without one, and for every window-scoped value read
  // through one (hence the second configuration for those).
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION, scope ?? null);
  const window = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return {
    executionProvider: explicit<DeviceChoice>(window, 'executionProvider'),
    labels: config.get<string[]>('labels', []).filter((l) => l.trim() !== ''),
    epsilon: explicit<number>(window, 'epsilon'),
    maxWeight: explicit<number | null>(window, 'maxWeight'),
    realData: nonEmpty(config.get<string>('realData')),
    qualityModel: nonEmpty(config.get<string>('qualityModel')),
    diversityModel: nonEmpty(config.get<string>('diversityModel')),
    textFields: config.get<string[]>('textFields', []).filter((f) => f.trim() !== ''),
    labelField: nonEmpty(config.get<string>('labelField')),
    mislabelThreshold: config.get<number>('mislabelThreshold', 0.8),
    showWeightDecorations: window.get<boolean>('showWeightDecorations', true),
    rescoreOnSave: config.get<boolean>('rescoreOnSave', true),
    pythonPath: nonEmpty(config.get<string>('pythonPath')),
  };
}

/** True when a configuration change touches one of `keys`. */
export function affectsSettings(event: vscode.ConfigurationChangeEvent, keys: readonly SettingKey[]): boolean {
  return keys.some((key) => event.affectsConfiguration(`${SETTINGS_SECTION}.${key}`));
}
