/**
 * The one gateway to onnxruntime-node: creates sessions, maps the user's device choice to execution
 * providers with a reported fallback to CPU, runs and disposes. Nothing else imports onnxruntime.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { DimpError } from '../errors';

/** What the user asked for. `auto` uses CUDA when its provider is installed, else CPU. */
export type DeviceChoice = 'cpu' | 'cuda' | 'webgpu' | 'auto';

/** The execution providers the device choice tries, in order. */
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['auto', 'cpu', 'cuda', 'webgpu'];

/** One graph input or output as the session reports it; a string dimension is symbolic (e.g. "batch_size"). */
export interface GraphValue {
  name: string;
  /** Element type, e.g. "int64", "float32"; "non-tensor" for sequences and maps. */
  type: string;
  /** Dimensions; undefined when the graph does not say (or the value is not a tensor). */
  shape: readonly (number | string)[] | undefined;
}

/**
 * A loaded model and the provider that actually runs it: the one gateway to onnxruntime. Callers run and
 * release it through these methods; the onnxruntime session itself stays inside.
 */
export interface ModelSession {
  /** Runs the graph on named input tensors. */
  run(feeds: Record<string, Ort.Tensor>): Promise<Ort.InferenceSession.ReturnType>;
  /** Frees the session's native memory; the session cannot run afterwards. */
  release(): Promise<void>;
  /** The execution provider in use: "cpu", "cuda" or "webgpu". */
  provider: string;
  /** Why a requested provider was not used, when the session fell back to CPU. */
  fallbackReason: string | undefined;
  inputNames: readonly string[];
  outputNames: readonly string[];
  /** Inputs with element types and shapes, for checking a graph against what its folder claims. */
  inputs: readonly GraphValue[];
  outputs: readonly GraphValue[];
}

function graphValues(metadata: readonly Ort.InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): GraphValue[] {
  // Older onnxruntime builds expose names only; the shape is then unknown rather than guessed.
  if (!metadata) return names.map((name) => ({ name, type: 'unknown', shape: undefined }));
  return metadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: undefined }));
}

let ort: typeof Ort | undefined;

/** Loads onnxruntime-node on first use, with its telemetry off. */
export function onnxRuntime(): typeof Ort {
  if (!ort) {
    process.env.ORT_DISABLE_TELEMETRY ??= '1';
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ort = require('onnxruntime-node') as typeof Ort;
  }
  return ort;
}

function providersFor(device: DeviceChoice): string[] {
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'cuda':
      return ['cuda'];
    case 'webgpu':
      return ['webgpu'];
    case 'auto':
      return cudaProviderInstalled() ? ['cuda'] : [];
  }
}

/**
 * Whether onnxruntime-node's CUDA provider library is on disk (installed with
 * ONNXRUNTIME_NODE_INSTALL=cuda12). `listSupportedBackends()` lists CUDA even when it is not, so `auto`
 * looks for the library itself rather than failing a CUDA session on every CPU-only machine.
 */
export function cudaProviderInstalled(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const packageRoot = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const binaries = path.join(packageRoot, 'bin');
    return ['napi-v3', 'napi-v6'].some((napi) => existsSync(path.join(binaries, napi, 'linux', process.arch, 'libonnxruntime_providers_cuda.so')));
  } catch {
    return false;
  }
}

/**
 * What to tell a user whose model runs on `provider` after another device was asked for or failed: the
 * reason, and how to get the GPU provider (onnxruntime-node's CUDA binaries are a separate install) or to
 * stop asking for it. Never a file path: the reason is onnxruntime's first line.
 */
export function fallbackMessage(what: string, provider: string, reason: string): string {
  const cuda = /cuda/i.test(reason)
    ? ' For CUDA, reinstall onnxruntime-node with its CUDA 12 binaries (ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node, with the CUDA 12 and cuDNN 9 libraries installed); or choose "cpu" (DIMP: Select Execution Provider, --device cpu) to stop asking.'
    : '';
  const short = reason.replace(/\s*\S*\/(?:[^/\s]+\/)+[^/\s]*/g, ' (a library file)').trim();
  return `${what}: using ${provider} (${short}).${cuda}`;
}

/**
 * Opens an ONNX model (path or bytes) on the chosen device. onnxruntime-node does not fall back by
 * itself (a session asked for CUDA throws where CUDA is missing), so each provider is tried alone and
 * CPU comes last; the reason a provider failed is returned, never swallowed.
 */
export async function openModelSession(
  model: string | Uint8Array,
  device: DeviceChoice = 'cpu',
  options: {
    intraOpThreads?: number;
    /** Replaces onnxruntime's session factory: only for tests of this fallback logic (a mock GPU provider). */
    createSession?: (model: string | Uint8Array, sessionOptions: Ort.InferenceSession.SessionOptions) => Promise<Ort.InferenceSession>;
  } = {},
): Promise<ModelSession> {
  const runtime = onnxRuntime();
  const create =
    options.createSession ??
    ((source: string | Uint8Array, sessionOptions: Ort.InferenceSession.SessionOptions) =>
      typeof source === 'string' ? runtime.InferenceSession.create(source, sessionOptions) : runtime.InferenceSession.create(source, sessionOptions));
  const failures: string[] = [];
  const base: Ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (options.intraOpThreads) base.intraOpNumThreads = options.intraOpThreads;
  for (const provider of [...providersFor(device), 'cpu']) {
    try {
      const sessionOptions = { ...base, executionProviders: [provider] };
      const session = await create(model, sessionOptions);
      const asked = device !== 'auto' && device !== provider;
      return {
        run: (feeds) => session.run(feeds),
        release: () => session.release(),
        provider,
        fallbackReason: failures.length > 0 || asked ? failures.join('; ') || `${device} was not available` : undefined,
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        inputs: graphValues(session.inputMetadata, session.inputNames),
        outputs: graphValues(session.outputMetadata, session.outputNames),
      };
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? String(error);
      if (provider === 'cpu') {
        throw new DimpError('badModel', `onnxruntime could not load the model: ${message}`, { file: typeof model === 'string' ? model : undefined });
      }
      failures.push(`${provider}: ${message}`);
    }
  }
  throw new Error('unreachable: the CPU provider is always tried last');
}

/** Builds a tensor for a session input. */
export function tensor(type: 'float32', data: Float32Array, dims: readonly number[]): Ort.Tensor;
export function tensor(type: 'float64', data: Float64Array, dims: readonly number[]): Ort.Tensor;
export function tensor(type: 'int32', data: Int32Array, dims: readonly number[]): Ort.Tensor;
export function tensor(type: 'int64', data: BigInt64Array, dims: readonly number[]): Ort.Tensor;
export function tensor(type: 'float32' | 'float64' | 'int32' | 'int64', data: Float32Array | Float64Array | Int32Array | BigInt64Array, dims: readonly number[]): Ort.Tensor {
  const runtime = onnxRuntime();
  return new runtime.Tensor(type, data as Float32Array, dims);
}
