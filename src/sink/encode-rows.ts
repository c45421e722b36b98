import type { Tensor } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import type { OutputColumn } from '../model/signature.js';
import type { RowBatch } from '../sources/source.js';
import os from 'node:os';
import type { CopyWriter } from './copy-binary.js';
import type { KeyType } from '../spec/job-spec.js';
import { canonicalUuid } from '../sources/uuid-keys.js';

const LITTLE_ENDIAN = os.endianness() === 'LE';

const enum Kind {
  F32,
  F64,
  I64,
  I32,
  I16,
  Bool,
  Str,
}

/** Binary COPY encoding per SQL column type (model/signature.ts maps ONNX element types to these). */
const kinds: Record<string, Kind> = {
  real: Kind.F32,
  'double precision': Kind.F64,
  bigint: Kind.I64,
  integer: Kind.I32,
  smallint: Kind.I16,
  boolean: Kind.Bool,
  text: Kind.Str,
};

interface Column {
  kind: Kind;
  data: ArrayLike<unknown>;
  /** int64 data seen as int32 pairs (low, high), on little-endian machines (every platform onnxruntime-node ships for) */
  halves: Int32Array | undefined;
  stride: number;
  offset: number;
}

/** Check each output's per-row width against the spec, once per batch (symbolic dims are only known now). */
function columnsOf(outputs: OutputColumn[], results: Record<string, Tensor>, n: number): Column[] {
  return outputs.map((o) => {
    const t = results[o.output];
    const stride = t.data.length / n;
    if (!Number.isInteger(stride) || stride < 1) throw new UsageError(`output "${o.output}" returned ${t.data.length} values for ${n} rows (shape [${t.dims.join(', ')}]); batchinfer needs a leading batch dimension`);
    if (o.index === undefined && stride !== 1) throw new UsageError(`outputs.${o.column}: output "${o.output}" returned shape [${t.dims.join(', ')}] (${stride} values per row); add index: 0..${stride - 1}`);
    if (o.index !== undefined && o.index >= stride) throw new UsageError(`outputs.${o.column}.index: ${o.index} is out of range for output "${o.output}" of shape [${t.dims.join(', ')}]; use 0..${stride - 1}`);
    const data = t.data as ArrayLike<unknown>;
    const halves = LITTLE_ENDIAN && data instanceof BigInt64Array ? new Int32Array(data.buffer, data.byteOffset, data.length * 2) : undefined;
    return { kind: kinds[o.sqlType], data, halves, stride, offset: o.index ?? 0 };
  });
}

/** A chunk's provenance fields, encoded (provenanceBytes), and how many they are. */
export interface Provenance {
  bytes: Buffer;
  fields: number;
}

/**
 * Append one binary COPY tuple per scored row: key, passthrough, outputs, provenance (pre-encoded);
 * rows flagged in `skip` (rejected after scoring) are left out.
 */
export function encodeRows(w: CopyWriter, batch: RowBatch, keyType: KeyType, outputs: OutputColumn[], results: Record<string, Tensor>, provenance: Provenance, skip?: Uint8Array): void {
  const n = batch.n;
  const cols = columnsOf(outputs, results, n);
  const fields = 1 + batch.passthrough.length + cols.length + provenance.fields;
  const bigintKey = keyType === 'bigint';
  const uuidKey = keyType === 'uuid';
  const textKeys = batch.textKeys;
  for (let r = 0; r < n; r++) {
    if (skip !== undefined && skip[r] === 1) continue;
    w.tupleStart(fields);
    if (textKeys !== undefined) {
      // straight from the source's bytes: no string per key
      const id = batch.keyIds![r];
      if (uuidKey) w.uuid(textKeys.bytes, textKeys.starts[id]); // canonical text (the source checked it)
      else w.textBytes(textKeys.bytes, textKeys.starts[id], textKeys.starts[id + 1]);
    } else {
      const key = batch.keys[r];
      if (uuidKey) {
        // (the sources keep uuid keys in their key set, checked: this is for a batch built otherwise)
        const canonical = canonicalUuid(String(key));
        if (canonical === undefined) throw new Error(`key "${key}" is not a UUID`);
        w.uuid(Buffer.from(canonical, 'latin1'), 0);
      } else if (!bigintKey) w.text(typeof key === 'string' ? key : String(key));
      else if (typeof key === 'number') w.int8FromNumber(key);
      else w.int8(BigInt(key)); // more than 15 digits: canonical text
    }
    for (let p = 0; p < batch.passthrough.length; p++) {
      const v = batch.passthrough[p][r];
      if (v === null) w.null();
      else if (typeof v === 'string') w.text(v);
      else w.field(v); // a typed passthrough: its binary COPY bytes
    }
    for (let c = 0; c < cols.length; c++) {
      const col = cols[c];
      const v = col.data[r * col.stride + col.offset];
      switch (col.kind) {
        case Kind.F32:
          w.float4(v as number);
          break;
        case Kind.F64:
          w.float8(v as number);
          break;
        case Kind.I64:
          // int64 tensors: the two little-endian halves, no BigInt per value
          if (col.halves) {
            const i = 2 * (r * col.stride + col.offset);
            w.int8Halves(col.halves[i + 1], col.halves[i] >>> 0);
          } else if (typeof v === 'bigint') w.int8(v);
          else w.int8FromNumber(v as number);
          break;
        case Kind.I32:
          w.int4(v as number);
          break;
        case Kind.I16:
          w.int2(v as number);
          break;
        case Kind.Bool:
          w.bool(Boolean(v));
          break;
        case Kind.Str:
          w.text(String(v));
          break;
      }
    }
    w.raw(provenance.bytes);
  }
}

/**
 * Rows of the batch whose stored float outputs are NaN (a model fed values outside its domain): they
 * become rejects instead of NaN scores. Undefined when there are none (the usual case: one pass, no
 * allocation).
 */
export function nanRows(outputs: OutputColumn[], results: Record<string, Tensor>, n: number): { skip: Uint8Array; columns: string[] } | undefined {
  let found: { skip: Uint8Array; columns: string[] } | undefined;
  for (const o of outputs) {
    if (o.type !== 'float32' && o.type !== 'float64') continue;
    const data = results[o.output].data as Float32Array | Float64Array;
    const stride = data.length / n;
    const off = o.index ?? 0;
    for (let r = 0; r < n; r++) {
      const v = data[r * stride + off];
      if (v !== v) {
        found ??= { skip: new Uint8Array(n), columns: new Array<string>(n) };
        if (found.skip[r] === 0) found.columns[r] = o.column;
        found.skip[r] = 1;
      }
    }
  }
  return found;
}
