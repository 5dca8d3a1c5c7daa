// spec.model.source.tokenSecret: a Hugging Face token for gated hf:// repos (Command A, Command R7B),
// refused wherever the fetch would not use it, in zod and in the CRD's CEL rule alike.
import { describe, expect, it } from 'vitest';
import { modelDeploymentOpenApiSchema } from './model-deployment-crd.js';
import { MERGE_NOT_IMPLEMENTED, ModelDeploymentSpecSchema, TOKEN_SECRET_NEEDS_HF_URI } from './model-deployment.js';

type Node = Record<string, any>;

const issues = (spec: unknown) => {
  const r = ModelDeploymentSpecSchema.safeParse(spec);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};
const HF = 'hf://CohereLabs/c4ai-command-a-03-2025';

describe('spec.model.source.tokenSecret', () => {
  it('is accepted with an hf:// uri; key defaults to token', () => {
    const s = ModelDeploymentSpecSchema.parse({ model: { name: 'm', source: { uri: HF, tokenSecret: { name: 'hf-token' } } } });
    expect(s.model.source.tokenSecret).toEqual({ name: 'hf-token', key: 'token' });
    expect(issues({ model: { name: 'm', source: { uri: `${HF}@main`, tokenSecret: { name: 'hf-token', key: 'hf_token.v2' } } } })).toEqual([]);
  });

  it('is refused with a pvc, hostPath or https:// source (the fetch sends the token to the Hub only), naming the field', () => {
    for (const source of [{ pvc: { claimName: 'w' } }, { hostPath: { path: '/m' } }, { uri: 'https://models.example/command-a' }]) {
      expect(issues({ model: { name: 'm', source: { ...source, tokenSecret: { name: 'hf-token' } } } }), JSON.stringify(source)).toEqual([
        `model.source.tokenSecret: ${TOKEN_SECRET_NEEDS_HF_URI}`,
      ]);
    }
    expect(TOKEN_SECRET_NEEDS_HF_URI).toMatch(/^tokenSecret /);
  });

  it('needs a secret name and a valid key', () => {
    expect(issues({ model: { name: 'm', source: { uri: HF, tokenSecret: { name: '' } } } })[0]).toMatch(/^model\.source\.tokenSecret\.name:/);
    expect(issues({ model: { name: 'm', source: { uri: HF, tokenSecret: { name: 'a', key: 'a/b' } } } })[0]).toMatch(/^model\.source\.tokenSecret\.key: must be a secret key/);
  });

  it('merge sources share the source schema (merge itself is still refused)', () => {
    const merge = [{ source: { pvc: { claimName: 'b' }, tokenSecret: { name: 'hf-token' } }, weight: 0.5 }];
    expect(issues({ model: { name: 'm', source: { uri: HF }, merge } })).toEqual(
      expect.arrayContaining([`model.merge.0.source.tokenSecret: ${TOKEN_SECRET_NEEDS_HF_URI}`]),
    );
    expect(issues({ model: { name: 'm', source: { uri: HF }, merge: [{ source: { uri: HF, tokenSecret: { name: 't' } }, weight: 0.5 }] } })).toEqual([
      `model.merge: ${MERGE_NOT_IMPLEMENTED}`,
    ]);
  });

  it('the CRD carries the same refusal as a CEL rule on the source, pointing at the field', () => {
    const spec = (modelDeploymentOpenApiSchema() as Node).properties.spec as Node;
    for (const source of [spec.properties.model.properties.source, spec.properties.model.properties.merge.items.properties.source] as Node[]) {
      expect(source['x-kubernetes-validations']).toContainEqual({
        rule: "!has(self.tokenSecret) || (has(self.uri) && self.uri.startsWith('hf://'))",
        message: TOKEN_SECRET_NEEDS_HF_URI,
        fieldPath: '.tokenSecret',
      });
      expect(source.properties.tokenSecret).toMatchObject({ type: 'object', required: ['name'], properties: { key: { default: 'token' } } });
      expect(source.properties.tokenSecret.description).toMatch(/HF_TOKEN/);
    }
  });

  it('router.apiKeySecret keeps its shape and default key', () => {
    expect(ModelDeploymentSpecSchema.parse({ model: { name: 'm', source: { uri: HF } }, router: { apiKeySecret: { name: 'k' } } }).router.apiKeySecret).toEqual({ name: 'k', key: 'api-key' });
  });
});
