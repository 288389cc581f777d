/** IPv4 CIDR arithmetic for egress rules: parse, and whether one block contains another. */

export interface Ipv4Block {
  readonly base: number;
  readonly prefix: number;
}

export function parseIpv4Cidr(cidr: string): Ipv4Block | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  return { base: Math.floor(address / size) * size, prefix };
}

/** Does `outer` contain every address of `inner`? */
export function containsBlock(outer: Ipv4Block, inner: Ipv4Block): boolean {
  if (outer.prefix > inner.prefix) return false;
  const size = 2 ** (32 - outer.prefix);
  return Math.floor(inner.base / size) * size === outer.base;
}

export function isIpv6Cidr(cidr: string): boolean {
  return cidr.includes(":");
}
