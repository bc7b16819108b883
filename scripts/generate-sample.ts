// Writes the bundled sample (sample/*.jsonl) from the deterministic generator: `npm run sample`.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { generateSample } from './sample';

/** Files of the sample folder, by name. */
export function sampleFiles(): Record<string, string> {
  const sample = generateSample();
  return {
    'real_train.jsonl': sample.realTrain,
    'real_val.jsonl': sample.realVal,
    'real_test.jsonl': sample.realTest,
    'synthetic.jsonl': sample.synthetic,
    'truth.jsonl': sample.truth,
  };
}

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? 'sample');
  await fs.mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(sampleFiles())) {
    await fs.writeFile(path.join(dir, name), text);
    process.stdout.write(`wrote ${path.join(dir, name)} (${text.split('\n').length - 1} lines)\n`);
  }
}

if (require.main === module) void main();
