import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixOpenApiForCrd, structuralErrors, zodToCrdSchema } from './crd-schema.js';
import { modelDeploymentCrd, modelDeploymentOpenApiSchema } from './model-deployment-crd.js';
import {
  GPUS_PER_POD_NEEDS_CUDA,
  MERGE_NOT_IMPLEMENTED,
  MODEL_URI_MESSAGE,
  ModelDeploymentSpecSchema,
  PREFIX_CACHING_NOT_IMPLEMENTED,
} from './model-deployment.js';

type Node = Record<string, any>;

describe('ModelDeployment CRD schema', () => {
  const schema = modelDeploymentOpenApiSchema() as Node;
  const spec = schema.properties.spec as Node;

  it('is structural', () => {
    expect(structuralErrors(schema)).toEqual([]);
  });

  it('carries defaults and descriptions the apiserver applies', () => {
    expect(spec.properties.parallelism.default).toEqual({ tensor: 1, gpusPerPod: 1 });
    expect(spec.properties.parallelism.properties.tensor).toMatchObject({ type: 'integer', default: 1, minimum: 1 });
    expect(spec.properties.replicas).toMatchObject({ type: 'integer', default: 1, minimum: 0 });
    expect(spec.properties.engine.properties.backend).toMatchObject({ default: 'cuda', enum: ['cpu', 'cuda'] });
    expect(spec.properties.parallelism.properties.tensor.description).toMatch(/ranks per replica/);
    expect(spec.required).toEqual(['model']);
  });

  it('drops the ±2^53 bounds z.int() adds, keeps real ones', () => {
    expect(JSON.stringify(schema)).not.toContain('9007199254740991');
  });

  it('writes quantities as int-or-string without a typed anyOf', () => {
    const cpu = spec.properties.resources.properties.cpu as Node;
    expect(cpu['x-kubernetes-int-or-string']).toBe(true);
    expect(cpu.anyOf).toBeUndefined();
    expect(cpu.type).toBeUndefined();
  });

  it('carries CEL rules for cross-field checks', () => {
    const rules = spec.properties.model.properties.source['x-kubernetes-validations'];
    expect(rules[0].message).toBe('exactly one of pvc, hostPath, uri must be set');
    expect(spec.properties.parallelism['x-kubernetes-validations'][0].rule).toContain('gpusPerPod');
  });

  it('refuses s3:// and gs:// model URIs at apply time with a message, not a bare pattern', () => {
    const uri = spec.properties.model.properties.source.properties.uri;
    expect(uri['x-kubernetes-validations']).toEqual([{ rule: "self.matches('^(hf|https?)://.+')", message: MODEL_URI_MESSAGE }]);
    expect(uri.maxLength).toBe(2048); // bounds the rule's estimated cost
    expect(uri.pattern).toBeUndefined();
    expect(uri.description).toMatch(/s3:\/\/ and gs:\/\/ are not supported yet/);
    expect(spec.properties.model.properties.merge.items.properties.source.properties.uri['x-kubernetes-validations']).toHaveLength(1);
    // The CEL rule's regex, run here the way RE2 would (no RE2-only syntax in it).
    const cel = new RegExp(/self\.matches\('(.*)'\)/.exec(uri['x-kubernetes-validations'][0].rule)![1]!);
    for (const u of ['hf://CohereLabs/c4ai-command-r7b-12-2024', 'https://models.example/command-a', 'http://10.0.0.1/m']) expect(cel.test(u), u).toBe(true);
    for (const u of ['s3://bucket/command-a', 'gs://bucket/command-a', 'hf://', 'file:///models']) expect(cel.test(u), u).toBe(false);
  });

  it('refuses what the engine does not do yet at apply time (CEL), defaulting to what it does', () => {
    const engine = spec.properties.engine.properties;
    expect(engine.dtype).toMatchObject({ default: 'auto', enum: ['auto', 'bf16', 'fp8'] });
    expect(engine.prefixCaching).toMatchObject({ default: false, description: PREFIX_CACHING_NOT_IMPLEMENTED });
    expect(engine.prefixCaching['x-kubernetes-validations']).toEqual([{ rule: '!self', message: PREFIX_CACHING_NOT_IMPLEMENTED }]);
    expect(spec.properties.model.properties.merge['x-kubernetes-validations']).toEqual([{ rule: 'size(self) == 0', message: MERGE_NOT_IMPLEMENTED }]);
    expect(spec.properties.model.properties.merge.description).toMatch(/not implemented yet/);
    expect(spec['x-kubernetes-validations']).toEqual([expect.objectContaining({ message: GPUS_PER_POD_NEEDS_CUDA })]);
  });

  it('declares scale + status subresources, short name and printer columns', () => {
    const crd = modelDeploymentCrd() as Node;
    const v = crd.spec.versions[0];
    expect(crd.spec.names.shortNames).toEqual(['tmd']);
    expect(v.subresources.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    });
    expect(v.subresources.status).toEqual({});
    expect(v.additionalPrinterColumns.map((c: Node) => c.name.toUpperCase())).toEqual(['READY', 'REPLICAS', 'TP', 'MODEL', 'ENDPOINT', 'AGE']);
  });
});

describe('structuralErrors', () => {
  it('flags a node without type, and properties beside additionalProperties', () => {
    expect(structuralErrors({ type: 'object', properties: { a: {} } })).toEqual(['a: type must be specified']);
    expect(structuralErrors({ type: 'object', properties: {}, additionalProperties: { type: 'string' } })).toEqual([
      '(root): properties and additionalProperties are mutually exclusive',
    ]);
  });
  it('flags a typed anyOf (what int-or-string must not be)', () => {
    const raw = z.toJSONSchema(z.union([z.string(), z.number()]), { target: 'openapi-3.0' }) as Node;
    expect(structuralErrors(fixOpenApiForCrd(raw)).length).toBeGreaterThan(0);
  });
  it('turns a loose object into preserve-unknown-fields', () => {
    expect(zodToCrdSchema(z.looseObject({}))).toEqual({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  });
});

describe('ModelDeploymentSpecSchema', () => {
  it('applies every default from a minimal spec', () => {
    const s = ModelDeploymentSpecSchema.parse({ model: { name: 'm', source: { hostPath: { path: '/m' } } } });
    expect(s.parallelism).toEqual({ tensor: 1, gpusPerPod: 1 });
    expect(s.replicas).toBe(1);
    expect(s.engine).toMatchObject({ backend: 'cuda', dtype: 'auto', maxBatchTokens: 8192, kvMemoryFraction: 0.9, prefixCaching: false });
    expect(s.scheduling).toMatchObject({ scheduleTimeoutSeconds: 600, drainSeconds: 30 });
    expect(s.router).toEqual({ replicas: 2 });
    expect(s.resources).toEqual({ cpu: '4', memory: '32Gi' });
  });
  it('reports every bad field with its path', () => {
    const r = ModelDeploymentSpecSchema.safeParse({
      model: { name: '', source: { hostPath: { path: '/a' }, uri: 'hf://x/y' } },
      parallelism: { tensor: 3, gpusPerPod: 2 },
      replicas: -1,
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['model.name', 'model.source', 'parallelism.tensor', 'replicas']));
  });

  describe('what the engine does not do yet', () => {
    const model = { name: 'm', source: { hostPath: { path: '/m' } } };
    const issues = (spec: unknown) => {
      const r = ModelDeploymentSpecSchema.safeParse(spec);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    it('refuses s3:// and gs:// URIs (tandem model fetch cannot read them yet), accepts hf:// and https://', () => {
      for (const uri of ['s3://bucket/command-a', 'gs://bucket/command-a', 'ftp://host/m', 'hf://']) {
        expect(issues({ model: { name: 'm', source: { uri } } })).toEqual([`model.source.uri: ${MODEL_URI_MESSAGE}`]);
      }
      for (const uri of ['hf://CohereLabs/c4ai-command-r7b-12-2024@main', 'https://models.example/command-a']) {
        expect(issues({ model: { name: 'm', source: { uri } } })).toEqual([]);
      }
    });
    it('refuses prefixCaching: true, accepts false', () => {
      expect(issues({ model, engine: { prefixCaching: true } })).toEqual([`engine.prefixCaching: ${PREFIX_CACHING_NOT_IMPLEMENTED}`]);
      expect(issues({ model, engine: { prefixCaching: false } })).toEqual([]);
    });
    it('refuses a non-empty merge, accepts an empty one', () => {
      expect(issues({ model: { ...model, merge: [{ source: { hostPath: { path: '/b' } }, weight: 0.5 }] } })).toEqual([
        `model.merge: ${MERGE_NOT_IMPLEMENTED}`,
      ]);
      expect(issues({ model: { ...model, merge: [] } })).toEqual([]);
    });
    it('refuses gpusPerPod > 1 on the cpu backend, accepts it on cuda', () => {
      expect(issues({ model, parallelism: { tensor: 2, gpusPerPod: 2 }, engine: { backend: 'cpu' } })).toEqual([
        `parallelism.gpusPerPod: ${GPUS_PER_POD_NEEDS_CUDA}`,
      ]);
      expect(issues({ model, parallelism: { tensor: 2, gpusPerPod: 2 }, engine: { backend: 'cuda' } })).toEqual([]);
      expect(issues({ model, parallelism: { tensor: 2 }, engine: { backend: 'cpu' } })).toEqual([]);
    });
    it('accepts every dtype the CRD lists (the shard checks bf16/fp8 against the checkpoint and build)', () => {
      for (const dtype of ['auto', 'bf16', 'fp8']) expect(issues({ model, engine: { dtype } })).toEqual([]);
      expect(issues({ model, engine: { dtype: 'f8' } })[0]).toMatch(/^engine\.dtype:/);
    });
  });
});
