import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ort } from './session-cache.js';
import type { JobSpec } from '../spec/job-spec.js';
import type { RowBatch } from '../sources/source.js';
import type { feedableInputTypes } from './signature.js';

export type InputType = (typeof feedableInputTypes)[number];

/**
 * The largest integer magnitude an int input takes. Features are read as float32, which holds every
 * integer up to 2^24 exactly and rounds beyond it (16,777,217 reads as 16,777,216): an int feature
 * past this is a reject, never a silently different number.
 */
export const maxExactIntFeature = 2 ** 24;

export interface FeedInput {
  name: string;
  columns: string[];
  type: InputType;
}

/** Each spec input with the element type the model declares for it (checkSignature has refused any other type). */
export function feedInputs(spec: JobSpec, session: InferenceSession): FeedInput[] {
  const types = new Map(session.inputMetadata.map((m) => [m.name, m.isTensor ? m.type : 'non-tensor']));
  return spec.inputs.map((i) => ({ name: i.name, columns: i.columns, type: (types.get(i.name) ?? 'float32') as InputType }));
}

/** Rows of a batch that can't be fed (a non-integer for an int input): scored with a stand-in value, then left out as rejects. */
export interface Unfed {
  skip: Uint8Array;
  reasons: string[];
}

/**
 * The first k rows of a batch as the model's feeds, each in its declared element type. float32 is the
 * batch's own array (no copy); float64 widens exactly; int32/int64 take integers within
 * ±maxExactIntFeature, and a row with any other value is returned in `unfed` with its reason.
 */
export function buildFeeds(inputs: FeedInput[], batch: RowBatch, k: number): { feeds: Record<string, Tensor>; unfed?: Unfed } {
  const Tensor = ort().Tensor;
  const feeds: Record<string, Tensor> = {};
  let unfed: Unfed | undefined;
  inputs.forEach((input, i) => {
    const w = input.columns.length;
    const values = batch.features[i].subarray(0, k * w);
    if (input.type === 'float32') feeds[input.name] = new Tensor('float32', values, [k, w]);
    else if (input.type === 'float64') feeds[input.name] = new Tensor('float64', Float64Array.from(values), [k, w]);
    else {
      const int64 = input.type === 'int64';
      const out = int64 ? new BigInt64Array(k * w) : new Int32Array(k * w);
      for (let j = 0; j < values.length; j++) {
        const v = values[j];
        if (Number.isInteger(v) && v <= maxExactIntFeature && v >= -maxExactIntFeature) {
          if (int64) (out as BigInt64Array)[j] = BigInt(v);
          else (out as Int32Array)[j] = v;
          continue;
        }
        const r = (j / w) | 0;
        unfed ??= { skip: new Uint8Array(k), reasons: new Array<string>(k) };
        if (unfed.skip[r] === 1) continue;
        unfed.skip[r] = 1;
        const column = input.columns[j % w];
        unfed.reasons[r] = Number.isInteger(v)
          ? `value ${v} in column "${column}" is beyond ±${maxExactIntFeature} for ${input.type} input "${input.name}" (features are read as float32, exact only to 2^24)`
          : `value ${v} in column "${column}" is not an integer; input "${input.name}" takes ${input.type}`;
      }
      feeds[input.name] = new Tensor(input.type, out, [k, w]);
    }
  });
  return { feeds, unfed };
}
