/**
 * Deterministic generator of the bundled sample: product reviews with three sentiment labels, a
 * small "real" set and a larger "LLM-generated" set with planted flaws (mislabels, near-duplicates,
 * off-distribution artefacts) whose positions are recorded in a truth file.
 */

import { SeededRandom } from '../src/core/random';

/** Serialised JSONL texts of the sample, one entry per file. */
export interface SampleFiles {
  /** 300 rows of `{"text", "label"}` with label names; about 4 % carry a neighbouring label. */
  realTrain: string;
  /** 200 rows, same distribution and format as `realTrain`. */
  realVal: string;
  /** 1000 rows, same format; no text equals (case and punctuation aside) any synthetic text. */
  realTest: string;
  /** 4000 rows of `{"sentence", "label"}` with the label as an index into `SAMPLE_LABELS`. */
  synthetic: string;
  /**
   * One `{"line", "flaw", "trueLabel"}` row per synthetic line, in order; for off-distribution rows
   * there is no true sentiment and `trueLabel` repeats the given label.
   */
  truth: string;
}

/** Label names of the sample; synthetic rows store the index into this list. */
export const SAMPLE_LABELS = ['negative', 'neutral', 'positive'] as const;

type Label = 0 | 1 | 2;
type Flaw = 'none' | 'mislabelled' | 'near-duplicate' | 'off-distribution';

const NEG: Label = 0;
const NEU: Label = 1;
const POS: Label = 2;

const DEFAULT_SEED = 20250124;
const REAL_TRAIN_ROWS = 300;
const REAL_VAL_ROWS = 200;
const REAL_TEST_ROWS = 1000;
const SYNTHETIC_ROWS = 4000;
const MISLABELLED_SHARE = 0.1;
const DUPLICATE_SHARE = 0.15;
const OFF_DISTRIBUTION_SHARE = 0.05;
// Share of real rows whose label is moved to a neighbouring class: annotators disagree too.
const REAL_LABEL_NOISE = 0.04;
const MIN_WORDS = 5;
const MAX_WORDS = 40;

// The project's seeded generator (mulberry32: 32-bit integer arithmetic and exact float division, so
// every engine yields the same stream), with the draws the templates need.
class Rng extends SeededRandom {
  int(n: number): number {
    return this.nextInt(n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** With probability `bias`, picks from the first three items: a generator's favourite words. */
  skewed<T>(xs: readonly T[], bias: number): T {
    return bias > 0 && this.chance(bias) ? (xs[this.int(Math.min(3, xs.length))] as T) : this.pick(xs);
  }

  weighted(weights: readonly number[]): number {
    let r = this.next();
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

// Independent streams per file, so changing how one file is drawn leaves the others as they were.
function streamSeed(seed: number, stream: number): number {
  let z = (seed + Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

interface Aspect {
  name: string;
  plural: boolean;
}

interface Product {
  name: string;
  plural: boolean;
  aspects: readonly Aspect[];
}

const s = (name: string): Aspect => ({ name, plural: false });
const pl = (name: string): Aspect => ({ name, plural: true });

const GENERIC_ASPECTS: readonly Aspect[] = [
  s('price'), s('delivery'), s('packaging'), s('build quality'), pl('instructions'),
  s('customer service'), s('design'), s('size'), s('finish'), s('warranty'),
];

const PRODUCTS: readonly Product[] = [
  { name: 'headphones', plural: true, aspects: [s('sound'), s('battery life'), s('noise cancelling'), s('fit'), s('microphone'), pl('ear cushions')] },
  { name: 'earbuds', plural: true, aspects: [s('sound'), s('battery life'), s('charging case'), s('fit'), pl('touch controls')] },
  { name: 'blender', plural: false, aspects: [s('motor'), pl('blades'), s('jug'), s('lid'), s('noise level')] },
  { name: 'kettle', plural: false, aspects: [s('handle'), s('lid'), s('temperature control'), s('cord'), s('boiling speed')] },
  { name: 'coffee maker', plural: false, aspects: [s('coffee'), s('water tank'), s('milk frother'), s('carafe'), s('brewing speed')] },
  { name: 'air fryer', plural: false, aspects: [s('basket'), s('timer'), s('temperature control'), s('display'), s('noise level')] },
  { name: 'phone case', plural: false, aspects: [s('grip'), pl('buttons'), s('camera cutout'), s('material'), s('colour')] },
  { name: 'vacuum cleaner', plural: false, aspects: [s('suction'), s('battery life'), s('dust bin'), pl('attachments'), s('noise level')] },
  { name: 'desk lamp', plural: false, aspects: [s('brightness'), s('light'), s('base'), s('switch'), s('arm')] },
  { name: 'bluetooth speaker', plural: false, aspects: [s('sound'), s('bass'), s('battery life'), s('volume'), s('pairing')] },
  { name: 'running shoes', plural: true, aspects: [s('fit'), s('sole'), s('cushioning'), pl('laces'), s('grip')] },
];

// Lists start with the words a generator overuses; `Rng.skewed` draws on that order.
const ADJ: Record<'real' | 'llm', readonly (readonly string[])[]> = {
  real: [
    ['terrible', 'awful', 'poor', 'bad', 'disappointing', 'flimsy', 'useless', 'weak', 'mediocre', 'horrible', 'rubbish', 'unreliable', 'cheap'],
    ['okay', 'fine', 'average', 'acceptable', 'decent', 'adequate', 'standard', 'alright', 'reasonable', 'ordinary', 'basic'],
    ['great', 'excellent', 'fantastic', 'superb', 'impressive', 'solid', 'brilliant', 'perfect', 'lovely', 'amazing', 'good', 'outstanding'],
  ],
  llm: [
    ['disappointing', 'subpar', 'lackluster', 'poor', 'terrible', 'underwhelming', 'flimsy', 'mediocre', 'awful', 'unreliable'],
    ['decent', 'satisfactory', 'adequate', 'okay', 'average', 'acceptable', 'fine', 'standard', 'reasonable'],
    ['excellent', 'exceptional', 'impressive', 'top-notch', 'great', 'outstanding', 'fantastic', 'remarkable', 'superb', 'solid'],
  ],
};
const INTENSIFIERS = ['very', 'really', 'quite', 'extremely', 'pretty', 'so', 'incredibly'];
// Absolute adjectives read wrong after "very".
const NOT_GRADABLE = new Set(['perfect', 'superb', 'outstanding', 'exceptional', 'top-notch', 'rubbish', 'useless', 'remarkable', 'subpar', 'brilliant', 'amazing']);

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'the weekend'];
const COLOURS = ['black', 'white', 'blue', 'grey', 'red', 'silver', 'green'];
const PEOPLE = ['sister', 'son', 'daughter', 'husband', 'wife', 'dad', 'mum', 'flatmate'];
const DURATIONS = ['two weeks', 'a month', 'three months', 'a few days', 'about a year', 'six weeks', 'ten days'];
const PLACES = ['kitchen', 'office', 'bedroom', 'garage', 'living room', 'spare room'];
const PRICES = ['20', '35', '49', '60', '85', '120'];

// Templates use {it} {obj} {is} {was} {has} {does} {s} {dem} {p} {one} for singular/plural agreement
// and {day} {colour} {person} {dur} {place} {price} for filler.
const FACTS = [
  '{it} arrived on {day}', '{it} came in a {colour} box', 'I ordered the {colour} {one}',
  'I bought {dem} {p} for my {person}', 'I have had {obj} for {dur}', '{it} replaced my old {one}',
  'the box includes a cable and a manual', '{it} {is} {colour}', 'delivery took {dur}',
  'I use {obj} mostly in the {place}', '{it} {was} a gift from my {person}', 'I paid {price} pounds for {obj}',
  'I bought {obj} in the sale', 'I have used {obj} about ten times so far', '{it} {is} smaller than my last {one}',
];

// Full clauses can follow "but" or "however"; fragments only stand alone as sentences.
const PRODUCT_CLAUSES: readonly (readonly string[])[] = [
  [
    '{it} broke after {dur}', '{it} stopped working after {dur}', 'I sent {obj} back', 'I regret buying {dem} {p}',
    '{it} feel{s} cheap', '{it} arrived damaged', '{it} never worked properly', 'I had nothing but problems with {obj}',
    'customer service never replied to my emails', '{it} {is} going straight back', 'I will be asking for a refund',
    '{it} started falling apart within {dur}',
  ],
  [
    '{it} {does} the job', '{it} work{s} as described', '{it} {is} exactly what the picture shows',
    '{it} {is} fine for occasional use', '{it} {is} pretty ordinary', 'I have no strong feelings about {obj}',
    '{it} {does} what {it} should and nothing more', '{it} {is} neither great nor terrible',
    '{it} {is} much the same as any other {p}', 'I am still getting used to {obj}',
  ],
  [
    'I love {dem} {p}', '{it} work{s} perfectly', '{it} {does} exactly what I need',
    'I use {obj} every day and {it} still work{s} like new', 'I would buy {obj} again', 'my {person} loves {obj}',
    '{it} exceeded my expectations', 'I am really glad I bought {obj}', 'I am very happy with {obj}',
  ],
];
const PRODUCT_FRAGMENTS: readonly (readonly string[])[] = [
  ['waste of money', 'total disappointment from day one', 'not what I hoped for at all'],
  ['no real surprises', 'a fairly standard {p}'],
  ['worth every penny', 'best {p} I have ever owned', 'no complaints so far', 'no problems at all'],
];

const VERDICTS: readonly (readonly string[])[] = [
  ['I would not recommend {obj}', 'one star', 'avoid', 'overall, very disappointed', 'not worth the money', 'save your money', 'never again'],
  ['three stars', '{it} {is} okay overall', 'not bad, not great', '{it} {is} fine for the price', '{it} will do for now', 'average overall', 'you get what you pay for'],
  ['highly recommend', 'five stars', 'would recommend {obj} to anyone', 'very happy overall', 'great value for money', 'overall, I am really pleased', 'ten out of ten'],
];

// Phrases a generator reaches for again and again; real reviewers rarely write them.
const LLM_OPENERS = [
  'I recently purchased {dem} {p}', 'I have been using {dem} {p} for a few weeks now',
  'I bought {dem} {p} to replace my old {one}', 'I was looking for a reliable {p}',
];
const LLM_CLOSERS: readonly (readonly string[])[] = [
  ['In conclusion, I would not recommend {dem} {p}', 'Overall, {dem} {p} {was} a disappointing purchase', 'In conclusion, I would not recommend {dem} {p} to anyone'],
  ['In conclusion, {dem} {p} {is} a decent option for the price', 'Overall, {it} get{s} the job done', 'Overall, {it} {is} a satisfactory choice'],
  ['Overall, I would highly recommend {dem} {p}', 'In conclusion, {dem} {p} {is} a fantastic choice', 'Overall, I would highly recommend {dem} {p} to anyone looking for quality'],
];

const OFF_TOPIC = {
  artefacts: [
    'As an AI language model, I cannot write a review of this product.',
    'Here is a positive review:', 'Here is a negative review for a {p}:', 'Sure! Here are five more customer reviews:',
    'Review {n}: [insert review text here]', 'I am sorry, but I cannot generate that content.',
    'Note: This review was generated for illustrative purposes only.', 'Here is another review written in a neutral tone:',
    'Certainly! Below is a review of the {p} you asked for.',
  ],
  subjects: ['The weather in Paris', 'Tomorrow', 'The weekend', 'Saturday in the north'],
  weather: ['will be sunny with highs of {n} degrees', 'brings heavy rain and strong winds', 'looks cloudy with light showers in the evening'],
  news: [
    'The home team won the match three goals to one on Saturday.', 'Stock markets closed slightly higher on Friday after a volatile week.',
    'The city council approved the new budget for public transport.', 'The striker signed a new four year contract with the club.',
    'Preheat the oven to 180 degrees and grease the baking tin.', 'The museum will reopen to visitors after the summer.',
    'Scientists have discovered a new species of frog in the rainforest.', 'Traffic on the motorway is moving slowly after an accident.',
  ],
  keywords: ['battery', 'sound', 'price', 'delivery', 'great', 'quality', 'review', 'product', 'positive', 'negative', 'stars', 'customer', 'bad', 'value'],
};

// Words a near-duplicate may swap; both directions keep the sentiment of the original.
const SYNONYMS: ReadonlyMap<string, string> = new Map(Object.entries({
  great: 'excellent', excellent: 'great', terrible: 'awful', awful: 'terrible', really: 'very', very: 'really',
  bought: 'purchased', purchased: 'bought', happy: 'pleased', pleased: 'happy', fantastic: 'amazing',
  amazing: 'fantastic', poor: 'bad', price: 'cost', this: 'the', these: 'the', disappointing: 'underwhelming',
  recommend: 'suggest', overall: 'all in all', quite: 'fairly', okay: 'fine', fine: 'okay', decent: 'reasonable',
}));

interface Style {
  adj: readonly (readonly string[])[];
  llm: boolean;
  /** Share of positive/negative reviews whose first clause contradicts the final one. */
  mixed: number;
  /** Share of aspect clauses phrased with a negation ("is not great"). */
  negation: number;
  /** Share of reviews that start with a neutral fact. */
  fact: number;
  /** Bias towards the first items of word lists (generator repetitiveness). */
  skew: number;
  intensify: number;
  exclaim: number;
}

const REAL_STYLE: Style = { adj: ADJ.real, llm: false, mixed: 0.3, negation: 0.3, fact: 0.45, skew: 0, intensify: 0.3, exclaim: 0.15 };
const LLM_STYLE: Style = { adj: ADJ.llm, llm: true, mixed: 0.12, negation: 0.12, fact: 0.15, skew: 0.55, intensify: 0.35, exclaim: 0.05 };

// Label shares: the real data is roughly balanced, the generator leans positive.
const REAL_LABEL_WEIGHTS = [0.32, 0.3, 0.38];
const LLM_LABEL_WEIGHTS = [0.3, 0.22, 0.48];

class Writer {
  private product: Product = PRODUCTS[0] as Product;
  // Per-review memory, so one review does not state the same fact or judge the same aspect twice.
  private readonly used = new Set<string>();

  constructor(
    private readonly rng: Rng,
    private readonly style: Style,
  ) {}

  review(label: Label, clear: boolean): string {
    for (;;) {
      const text = this.draft(label, clear);
      const words = countWords(text);
      if (words >= MIN_WORDS && words <= MAX_WORDS) return text;
    }
  }

  private draft(label: Label, clear: boolean): string {
    const { rng, style } = this;
    this.used.clear();
    this.product = style.llm ? rng.skewed(PRODUCTS, style.skew * 0.5) : rng.pick(PRODUCTS);
    const out: string[] = [];
    if (style.llm && rng.chance(0.3)) out.push(this.fill(rng.pick(LLM_OPENERS)));
    else if (rng.chance(style.fact)) out.push(...this.facts(1));

    if (label === NEU) this.neutralBody(out, clear);
    else this.polarBody(out, label, clear);

    if (style.llm && rng.chance(0.3)) out.push(this.fill(rng.pick(LLM_CLOSERS[label] as readonly string[])));
    return out.map((sentence, i) => this.finish(sentence, label, i === out.length - 1)).join(' ');
  }

  private polarBody(out: string[], label: Label, clear: boolean): void {
    const { rng, style } = this;
    const other: Label = label === POS ? NEG : POS;
    if (!clear && rng.chance(style.mixed)) {
      // Mixed review: the earlier clause points the other way, the last one decides.
      const first = rng.chance(0.75) ? this.aspectClause(other) : this.aspectClause(NEU);
      const form = rng.int(3);
      if (form === 0) out.push(`${first}, but ${this.clause(label, false)}`);
      else if (form === 1) out.push(`although ${first}, ${this.aspectClause(label)}`);
      else out.push(first, `however, ${this.clause(label, false)}`);
      if (rng.chance(0.45)) out.push(this.verdict(label));
      return;
    }
    const n = 1 + rng.int(2);
    for (let i = 0; i < n; i++) {
      if (i > 0 && rng.chance(0.3)) out[out.length - 1] += ` and ${this.clause(label, false)}`;
      else out.push(this.clause(label, true));
    }
    if (rng.chance(0.4)) out.push(this.verdict(label));
  }

  private neutralBody(out: string[], clear: boolean): void {
    const { rng } = this;
    const form = clear ? rng.int(2) : rng.int(5);
    if (form === 0) {
      out.push(...this.facts(1), this.productSentence(NEU, true));
    } else if (form === 1) {
      out.push(this.aspectClause(NEU));
      if (rng.chance(0.5)) out.push(this.clause(NEU, true));
    } else if (form === 2) {
      // Balanced review: one good point, one bad point, a lukewarm verdict.
      const [a, b] = rng.chance(0.5) ? [POS, NEG] : [NEG, POS];
      out.push(`${this.aspectClause(a)}, but ${this.aspectClause(b)}`, this.verdict(NEU));
    } else if (form === 3) {
      out.push(...this.facts(2));
      if (rng.chance(0.5)) out.push(this.verdict(NEU));
    } else {
      out.push(this.productSentence(NEU, true));
      if (rng.chance(0.6)) out.push(this.verdict(NEU));
    }
  }

  private clause(label: Label, standalone: boolean): string {
    return this.rng.chance(0.6) ? this.aspectClause(label) : this.productSentence(label, standalone);
  }

  private productSentence(label: Label, standalone: boolean): string {
    const { rng } = this;
    const list = standalone && rng.chance(0.25) ? PRODUCT_FRAGMENTS : PRODUCT_CLAUSES;
    return this.fill(rng.skewed(list[label] as readonly string[], this.style.skew));
  }

  private facts(n: number): string[] {
    const picked: string[] = [];
    while (picked.length < n) {
      const template = this.rng.pick(FACTS);
      if (this.used.has(template)) continue;
      this.used.add(template);
      picked.push(this.fill(template));
    }
    return picked;
  }

  private verdict(label: Label): string {
    return this.fill(this.rng.skewed(VERDICTS[label] as readonly string[], this.style.skew));
  }

  private adjective(label: Label): string {
    const { rng, style } = this;
    const word = rng.skewed(style.adj[label] as readonly string[], style.skew);
    const graded = label !== NEU && !NOT_GRADABLE.has(word) && rng.chance(style.intensify);
    return graded ? `${rng.pick(INTENSIFIERS)} ${word}` : word;
  }

  private aspectClause(label: Label): string {
    const { rng, style } = this;
    let a: Aspect;
    do a = rng.chance(0.65) ? rng.pick(this.product.aspects) : rng.pick(GENERIC_ASPECTS);
    while (this.used.has(a.name));
    this.used.add(a.name);
    const subj = `the ${a.name}`;
    const be = a.plural ? 'are' : 'is';
    const notBe = rng.chance(0.5) ? `${be} not` : a.plural ? "aren't" : "isn't";
    const negated = rng.chance(style.negation);
    if (label === POS) {
      if (negated) return `${subj} ${notBe} ${rng.pick(['bad at all', 'a problem', 'disappointing', 'bad', 'an issue at all'])}`;
      const r = rng.int(5);
      if (r <= 2) return `${subj} ${be} ${this.adjective(POS)}`;
      if (r === 3) return `I ${rng.pick(['love', 'really like', 'am very happy with', 'cannot fault'])} the ${a.name}`;
      return `${subj} ${be} ${rng.pick(['better than I expected', 'exactly what I wanted', 'a real highlight', 'spot on'])}`;
    }
    if (label === NEG) {
      if (negated) return `${subj} ${notBe} ${rng.pick(['great', 'good', 'very good', 'what I expected', 'up to scratch', 'as good as advertised'])}`;
      const r = rng.int(5);
      if (r <= 2) return `${subj} ${be} ${this.adjective(NEG)}`;
      if (r === 3) return `I am ${rng.pick(['not happy', 'really unhappy', 'disappointed', 'not impressed'])} with the ${a.name}`;
      return `${subj} ${be} ${rng.pick(['worse than I expected', 'a real letdown', 'a constant annoyance', 'the weak point'])}`;
    }
    if (negated) return `${subj} ${notBe} ${rng.pick(['great', 'amazing', 'bad', 'terrible'])}, but ${a.plural ? 'they' : 'it'} ${be} ${rng.pick(['fine', 'okay', 'usable'])}`;
    const r = rng.int(4);
    if (r <= 1) return `${subj} ${be} ${this.adjective(NEU)}`;
    if (r === 2) return `${subj} ${be} ${rng.pick(['about what you would expect', 'fine for the price', 'the same as on my old one', 'good enough for me'])}`;
    return `${rng.pick(['there is nothing special about', 'there were no surprises with', 'there is not much to say about'])} the ${a.name}`;
  }

  private fill(template: string): string {
    const { rng } = this;
    const p = this.product;
    return template.replace(/\{(\w+)\}/g, (_m, key: string) => {
      switch (key) {
        case 'it': return p.plural ? 'they' : 'it';
        case 'obj': return p.plural ? 'them' : 'it';
        case 'is': return p.plural ? 'are' : 'is';
        case 'was': return p.plural ? 'were' : 'was';
        case 'has': return p.plural ? 'have' : 'has';
        case 'does': return p.plural ? 'do' : 'does';
        case 's': return p.plural ? '' : 's';
        case 'dem': return p.plural ? 'these' : 'this';
        case 'one': return p.plural ? 'ones' : 'one';
        case 'p': return p.name;
        case 'day': return rng.pick(DAYS);
        case 'colour': return rng.pick(COLOURS);
        case 'person': return rng.pick(PEOPLE);
        case 'dur': return rng.pick(DURATIONS);
        case 'place': return rng.pick(PLACES);
        case 'price': return rng.pick(PRICES);
        default: throw new Error(`unknown template slot {${key}}`);
      }
    });
  }

  private finish(sentence: string, label: Label, last: boolean): string {
    const mark = last && label !== NEU && this.rng.chance(this.style.exclaim) ? '!' : '.';
    return capitalise(sentence) + mark;
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function countWords(text: string): number {
  return text.split(' ').filter((w) => w.length > 0).length;
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

function offTopic(rng: Rng): string {
  const product = rng.pick(PRODUCTS).name;
  const kind = rng.int(4);
  if (kind === 0) {
    return rng.pick(OFF_TOPIC.artefacts).replace('{p}', product).replace('{n}', String(1 + rng.int(20)));
  }
  if (kind === 1) {
    const text = `${rng.pick(OFF_TOPIC.subjects)} ${rng.pick(OFF_TOPIC.weather)}.`;
    return text.replace('{n}', String(12 + rng.int(20)));
  }
  if (kind === 2) return rng.pick(OFF_TOPIC.news);
  const words = OFF_TOPIC.keywords.slice();
  rng.shuffle(words);
  return capitalise(words.slice(0, 5 + rng.int(4)).join(', '));
}

function nearDuplicate(rng: Rng, text: string): string {
  const kind = rng.int(4);
  if (kind === 0) return text;
  if (kind === 1) {
    const words = text.split(' ');
    const candidates: number[] = [];
    words.forEach((w, i) => {
      if (SYNONYMS.has(w.toLowerCase().replace(/[^a-z]/g, ''))) candidates.push(i);
    });
    if (candidates.length > 0) {
      const i = rng.pick(candidates);
      const word = words[i] as string;
      const core = word.replace(/[^A-Za-z]/g, '');
      let swap = SYNONYMS.get(core.toLowerCase()) as string;
      if (core.charAt(0) !== core.charAt(0).toLowerCase()) swap = capitalise(swap);
      words[i] = word.replace(core, swap);
      return words.join(' ');
    }
  }
  if (kind === 2 && text.includes(', ')) return text.replace(', ', ' ');
  if (text.endsWith('.')) return `${text.slice(0, -1)}${rng.pick(['!', '!!', '...'])}`;
  if (text.endsWith('!')) return `${text.slice(0, -1)}.`;
  return `${text}.`;
}

interface SyntheticRow {
  sentence: string;
  label: Label;
  flaw: Flaw;
  trueLabel: Label;
}

function syntheticRows(rng: Rng): SyntheticRow[] {
  const writer = new Writer(rng, LLM_STYLE);
  const nOff = Math.round(SYNTHETIC_ROWS * OFF_DISTRIBUTION_SHARE);
  const nMis = Math.round(SYNTHETIC_ROWS * MISLABELLED_SHARE);
  const nDup = Math.round(SYNTHETIC_ROWS * DUPLICATE_SHARE);
  const nClean = SYNTHETIC_ROWS - nOff - nMis - nDup;
  const rows: SyntheticRow[] = [];
  for (let i = 0; i < nClean; i++) {
    const label = rng.weighted(LLM_LABEL_WEIGHTS) as Label;
    rows.push({ sentence: writer.review(label, false), label, flaw: 'none', trueLabel: label });
  }
  for (let i = 0; i < nMis; i++) {
    // A clear-cut text, so the flipped label is unambiguously wrong.
    const trueLabel = rng.weighted(LLM_LABEL_WEIGHTS) as Label;
    const label = ((trueLabel + 1 + rng.int(2)) % 3) as Label;
    rows.push({ sentence: writer.review(trueLabel, true), label, flaw: 'mislabelled', trueLabel });
  }
  // Generators repeat a few favourites many times, so half the copies come from a small pool.
  const favourites = Math.min(100, nClean);
  for (let i = 0; i < nDup; i++) {
    const original = rows[rng.chance(0.5) ? rng.int(favourites) : rng.int(nClean)] as SyntheticRow;
    let sentence = nearDuplicate(rng, original.sentence);
    if (countWords(sentence) < MIN_WORDS || countWords(sentence) > MAX_WORDS) sentence = original.sentence;
    rows.push({ sentence, label: original.label, flaw: 'near-duplicate', trueLabel: original.label });
  }
  for (let i = 0; i < nOff; i++) {
    const label = rng.int(3) as Label;
    rows.push({ sentence: offTopic(rng), label, flaw: 'off-distribution', trueLabel: label });
  }
  rng.shuffle(rows);
  return rows;
}

interface RealRow {
  text: string;
  label: Label;
}

function realRows(rng: Rng, count: number, exclude: ReadonlySet<string> | null): RealRow[] {
  const writer = new Writer(rng, REAL_STYLE);
  const rows: RealRow[] = [];
  while (rows.length < count) {
    const trueLabel = rng.weighted(REAL_LABEL_WEIGHTS) as Label;
    const text = writer.review(trueLabel, false);
    if (exclude !== null && exclude.has(normalise(text))) continue;
    let label = trueLabel;
    if (rng.chance(REAL_LABEL_NOISE)) label = trueLabel === NEU ? (rng.chance(0.5) ? NEG : POS) : NEU;
    rows.push({ text, label });
  }
  return rows;
}

function jsonl(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function realJsonl(rows: readonly RealRow[]): string {
  return jsonl(rows.map((r) => JSON.stringify({ text: r.text, label: SAMPLE_LABELS[r.label] })));
}

/** Builds the whole sample deterministically from `seed` (an integer; only its low 32 bits matter). */
export function generateSample(seed: number = DEFAULT_SEED): SampleFiles {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`sample seed must be an integer, got ${seed}`);
  const base = seed >>> 0;
  const synthetic = syntheticRows(new Rng(streamSeed(base, 0)));
  const syntheticTexts = new Set(synthetic.map((r) => normalise(r.sentence)));
  return {
    realTrain: realJsonl(realRows(new Rng(streamSeed(base, 1)), REAL_TRAIN_ROWS, null)),
    realVal: realJsonl(realRows(new Rng(streamSeed(base, 2)), REAL_VAL_ROWS, null)),
    realTest: realJsonl(realRows(new Rng(streamSeed(base, 3)), REAL_TEST_ROWS, syntheticTexts)),
    synthetic: jsonl(synthetic.map((r) => JSON.stringify({ sentence: r.sentence, label: r.label }))),
    truth: jsonl(
      synthetic.map((r, i) =>
        JSON.stringify({ line: i + 1, flaw: r.flaw, trueLabel: SAMPLE_LABELS[r.trueLabel] }),
      ),
    ),
  };
}
