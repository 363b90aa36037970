import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** The eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.split('%')[0] as string;
  const v4Tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4Tail) {
    const [a, b, c, d] = v4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? (halves[0] as string).split(':') : [];
  const tail = halves.length === 2 && halves[1] ? (halves[1] as string).split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((group) =>
    Number.parseInt(group, 16),
  );
  return groups.length === 8 && groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff)
    ? groups
    : undefined;
}

/**
 * The key a client is counted under: an IPv4 address as it is; an IPv6 address reduced to its
 * network prefix (a /64 by default: one subscriber gets a whole /64 and can rotate through it).
 * IPv4-mapped IPv6 (::ffff:1.2.3.4) is the IPv4 address.
 */
export function clientKey(ip: string, ipv6PrefixLength = 64): string {
  if (!ip.includes(':')) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6] as number, groups[7] as number];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  if (ipv6PrefixLength >= 128) return groups.map((group) => group.toString(16)).join(':');
  const masked = groups.map((group, index) => {
    const bits = Math.min(16, Math.max(0, ipv6PrefixLength - index * 16));
    return bits === 0 ? 0 : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  const kept = Math.ceil(ipv6PrefixLength / 16);
  return `${masked
    .slice(0, kept)
    .map((group) => group.toString(16))
    .join(':')}::/${ipv6PrefixLength}`;
}

/** A set of addresses and CIDRs (both families), e.g. SECURITY_ALLOWLIST. */
export function addressSet(entries: string[]): { has(ip: string): boolean; size: number } {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (!family) throw new Error(`not an IP address or CIDR: ${entry}`);
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return {
    size: entries.length,
    has(ip) {
      if (entries.length === 0) return false;
      const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
      if (!family) return false;
      if (list.check(ip, family)) return true;
      // An IPv4 client seen as ::ffff:a.b.c.d still matches an IPv4 entry.
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
      return mapped !== undefined && list.check(mapped, 'ipv4');
    },
  };
}
