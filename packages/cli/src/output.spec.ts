import { describe, expect, it } from 'vitest';
import { float32ArrayToJson, float32ToJson } from './output.js';
import { NormalStream } from './prng.js';

describe('float32 JSON', () => {
  it('prints the shortest decimal that reads back to the same float32', () => {
    const values = new Float32Array(2000);
    new NormalStream(1, 'json').fill(values, 0, 3);
    values[0] = 1e-30; values[1] = -3.4e38; values[2] = 0.1; values[3] = 100; values[4] = -0;
    const parsed = JSON.parse(float32ArrayToJson(values)) as number[];
    parsed.forEach((v, i) => expect(Math.fround(v)).toBe(values[i]));
    expect(float32ToJson(Math.fround(0.1))).toBe('0.1');
    expect(float32ToJson(Math.fround(2.8362641))).toBe('2.8362641');
    expect(float32ToJson(100)).toBe('1e+2');
  });

  it('writes null for values JSON cannot hold', () => {
    expect(JSON.parse(float32ArrayToJson([Number.NaN, Number.POSITIVE_INFINITY, 1]))).toEqual([null, null, 1]);
  });
});
