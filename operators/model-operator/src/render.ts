// `tandem operator render -f FILE`: every object the operator would apply for the ModelDeployments
// in a YAML file, produced by the same pure reconcile the controller runs (a first reconcile with
// no pods: children plus every group's pods, gated, exactly as created).
import { ModelDeploymentSchema, formatZodError } from '@tandem/schemas';
import { parseAllDocuments, stringify } from 'yaml';
import type { Capabilities } from './reconcile/children.js';
import type { KubeObject } from './reconcile/pods.js';
import { reconcile } from './reconcile/plan.js';

export class RenderError extends Error {}

export interface RenderOptions {
  /** Optional APIs to assume present; default both (ServiceMonitor and KEDA are rendered). */
  readonly capabilities?: Capabilities;
  /** File name for messages. */
  readonly source?: string;
}

export function renderObjects(yamlText: string, options: RenderOptions = {}): KubeObject[] {
  const source = options.source ?? 'input';
  const caps = options.capabilities ?? { serviceMonitor: true, keda: true };
  const out: KubeObject[] = [];
  const docs = parseAllDocuments(yamlText);
  const problems: string[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      problems.push(`${source} document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return;
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return;
    const parsed = ModelDeploymentSchema.safeParse(value);
    if (!parsed.success) {
      problems.push(`${source} document ${i + 1}:\n${formatZodError(parsed.error)}`);
      return;
    }
    const result = reconcile({ md: parsed.data, pods: [], now: 0, capabilities: caps });
    for (const a of result.actions) {
      if (a.type === 'apply') out.push(a.object);
      if (a.type === 'createPod') out.push(a.pod);
    }
  });
  if (problems.length > 0) throw new RenderError(problems.join('\n'));
  if (out.length === 0) throw new RenderError(`${source}: no ModelDeployment found`);
  return out;
}

export function renderYaml(yamlText: string, options: RenderOptions = {}): string {
  return renderObjects(yamlText, options)
    .map((o) => stringify(o, { lineWidth: 0 }))
    .join('---\n');
}
