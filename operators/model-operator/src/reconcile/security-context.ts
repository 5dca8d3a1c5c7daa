// The security context of every pod the operator creates (router Deployment template, shard pods)
// and of every container in them, init containers included: the house standard "pods run as
// non-root with minimal RBAC", kept in this one place so router and shard pods cannot drift apart.

/** uid and gid the router, shards and model fetch run as; a model volume must be readable by it. */
export const POD_UID = 10001;

/** Pod-level settings. A fresh object each call, so no caller can mutate another's spec. */
export function podSecurityContext(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: POD_UID,
    runAsGroup: POD_UID,
    // Volumes Kubernetes can re-own (emptyDir, writable PVCs whose driver allows it) get group
    // POD_UID; read-only mounts (our model PVCs) and hostPath are never re-owned, so their files
    // must already be readable by POD_UID (docs/operator.md). OnRootMismatch: a model volume holds hundreds of GB, and shard pods are recreated
    // whole-group, so only re-own it when its root is not already right instead of every start.
    fsGroup: POD_UID,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * Container-level settings, for every container and init container.
 *
 * No readOnlyRootFilesystem (yet): it is only safe once every process in the pod writes nothing
 * outside its volumes. As far as their source shows, the router and shard write only to os.tmpdir() (tsx's cache), which a /tmp
 * emptyDir would cover, but the URI source's init container runs `tandem model fetch`, which the
 * CLI does not implement today, so what it writes (a download cache under $HOME, temp files) is
 * unknown, and the repo has no image definition to show what its entrypoint writes either. Turn it
 * on together with a /tmp emptyDir per pod once the fetch command exists and writes only to --out.
 */
export function containerSecurityContext(): Record<string, unknown> {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  };
}
