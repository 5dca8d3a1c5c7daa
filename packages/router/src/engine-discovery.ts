// Replica discovery in a cluster: the engine Service is headless (clusterIP None) and publishes
// only ready rank-0 pods of serving groups, so resolving its DNS name gives exactly the replicas
// the router may use. DNS instead of watching EndpointSlices: no apiserver access, no RBAC, and
// the same code works for any name with several A/AAAA records. The pool re-resolves every
// pollIntervalMs and reconciles its membership (replica-pool.ts).
import { lookup } from 'node:dns/promises';
import { isIPv6 } from 'node:net';

/** Every address `host` resolves to (IPv4 and IPv6); rejects when the name does not resolve. */
export type HostResolver = (host: string) => Promise<readonly string[]>;

/** getaddrinfo (honours /etc/hosts and the pod's DNS search path, like any client in the pod). */
export const dnsResolver: HostResolver = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/** "name:port" → a function giving the engine addresses (host:port, [v6]:port), sorted and unique. */
export function serviceDiscovery(service: string, resolve: HostResolver = dnsResolver): () => Promise<string[]> {
  const at = service.lastIndexOf(':');
  const host = service.slice(0, at);
  const port = Number(service.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`engineService: "${service}" must be dns-name:port`);
  return async () => {
    const ips = await resolve(host);
    return [...new Set(ips.map((ip) => (isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`)))].sort();
  };
}
