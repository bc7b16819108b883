import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadProjectConfig } from '../../src/core/config';
import { draftProjectConfig, roleFromName } from '../../src/core/projectDraft';
import { DimpError } from '../../src/core/errors';

const repoRoot = path.resolve(__dirname, '../../..');
let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-draft-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeRows(name: string, rows: object[]): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
  return file;
}

describe('roleFromName', () => {
  test('reads the role from the words of the name, test and validation first', () => {
    assert.equal(roleFromName('data/synthetic.jsonl'), 'synthetic');
    assert.equal(roleFromName('llm-generated.ndjson'), 'synthetic');
    assert.equal(roleFromName('real_train.jsonl'), 'real');
    assert.equal(roleFromName('real_val.jsonl'), 'validation');
    assert.equal(roleFromName('sst2-dev.jsonl'), 'validation');
    assert.equal(roleFromName('real_test.jsonl'), 'test');
    assert.equal(roleFromName('reviews.jsonl'), undefined);
    assert.equal(roleFromName('contest.jsonl'), undefined, 'whole words only');
  });
});

describe('draftProjectConfig', () => {
  test("describes the bundled sample's files as sample/dimp.config.json does", async () => {
    const sample = path.join(repoRoot, 'sample');
    const files = ['synthetic.jsonl', 'real_train.jsonl', 'real_val.jsonl', 'real_test.jsonl'].map((name) => path.join(sample, name));
    const draft = await draftProjectConfig(sample, files);
    const written = JSON.parse(fs.readFileSync(path.join(sample, 'dimp.config.json'), 'utf8')) as { labels: string[]; datasets: Record<string, string> };
    assert.deepEqual(draft.config.labels, written.labels);
    for (const [role, file] of Object.entries(written.datasets)) {
      // The generated rows keep their text in "sentence", the real ones in "text": both detected.
      assert.deepEqual(draft.config.datasets?.[role as 'real'], { path: file, fields: { text: role === 'synthetic' ? 'sentence' : 'text', label: 'label' } }, role);
    }
    assert.equal(draft.config.training?.loss, 'dimp');
  });

  test('writes detected sentence-pair fields and paths relative to the folder, which loadProjectConfig reads back', async () => {
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => ({ premise: `p${i}`, hypothesis: `h${i}`, gold: ['entailment', 'neutral', 'contradiction'][i % 3] }));
    const generated = writeRows('nli/generated.jsonl', pairs(30).map(({ gold, ...row }) => ({ ...row, label: gold })));
    const real = writeRows('nli/mnli_train.jsonl', pairs(12).map(({ gold, ...row }) => ({ ...row, class: gold })));
    const draft = await draftProjectConfig(dir, [generated, real]);
    assert.deepEqual(draft.config.datasets, {
      synthetic: { path: 'nli/generated.jsonl', fields: { text: ['premise', 'hypothesis'], label: 'label' } },
      real: { path: 'nli/mnli_train.jsonl', fields: { text: ['premise', 'hypothesis'], label: 'class' } },
    });
    assert.deepEqual(draft.config.labels, ['contradiction', 'entailment', 'neutral']);
    const configFile = path.join(dir, 'dimp.config.json');
    fs.writeFileSync(configFile, JSON.stringify(draft.config, null, 2));
    const loaded = await loadProjectConfig(configFile, dir);
    assert.deepEqual(loaded.config.datasets?.real, { path: real, fields: { text: ['premise', 'hypothesis'], label: 'class' } });
  });

  test('takes the named synthetic file, else the largest unnamed one, and says what it left out and why', async () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `t${i}`, label: i % 2 }));
    const big = writeRows('mixed/reviews.jsonl', rows(40));
    const small = writeRows('mixed/other.jsonl', rows(10));
    const test1 = writeRows('mixed/test.jsonl', rows(10));
    const test2 = writeRows('mixed/holdout.jsonl', rows(10));
    const broken = writeRows('mixed/notes.jsonl', [{ title: 'no text or label here' }]);
    const draft = await draftProjectConfig(path.join(dir, 'mixed'), [big, small, test1, test2, broken]);
    assert.equal(draft.config.datasets?.synthetic && (draft.config.datasets.synthetic as { path: string }).path, 'reviews.jsonl');
    assert.equal((draft.config.datasets?.test as { path: string }).path, 'test.jsonl');
    assert.deepEqual(draft.config.labels, ['0', '1']);
    const leftOut = draft.notes.filter((note) => note.startsWith('left out'));
    assert.equal(leftOut.length, 3, draft.notes.join('\n'));
    assert.ok(leftOut.some((note) => note.startsWith('left out other.jsonl: its name does not say its role')));
    assert.ok(leftOut.some((note) => note.startsWith('left out holdout.jsonl: another test file is chosen')));
    assert.ok(leftOut.some((note) => note.startsWith('left out notes.jsonl:') && note.includes('cannot find the text and label field')));
    assert.ok(draft.notes.some((note) => note.startsWith('no real labelled file')));

    const chosen = await draftProjectConfig(path.join(dir, 'mixed'), [big, small], { synthetic: small });
    assert.equal((chosen.config.datasets?.synthetic as { path: string }).path, 'other.jsonl');
  });

  test('refuses when no file can be the synthetic set', async () => {
    const broken = writeRows('empty/notes.jsonl', [{ title: 'x' }]);
    await assert.rejects(draftProjectConfig(path.join(dir, 'empty'), [broken]), (error) => error instanceof DimpError && /no synthetic JSON Lines file/.test(error.message));
  });
});
