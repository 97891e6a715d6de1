#!/usr/bin/env python3
"""Instructions per request, per stage of the request path, from one callgrind dump.

    callgrind_stages.py CALLGRIND_OUT REQUESTS [TOP] [--no-stages]

Runs callgrind_annotate (inclusive costs), demangles the Swift symbols with `swift demangle`,
and prints: the total per request, a table of the request path's stages (each stage's cost is
the largest inclusive cost among the functions whose demangled name contains its pattern, i.e.
its outermost entry point; --no-stages leaves the table out, for a peer such as nginx), and the
TOP functions by inclusive and by exclusive cost. Used by profile-request-path.sh.
"""

import re
import subprocess
import sys

# (label, substring of the demangled, simplified name); indented labels are parts of the row above.
STAGES = [
    ("event loop, whole", "SelectableEventLoop.run()"),
    ("client bytes, whole (ProxyHandler.channelRead)", "_ChannelInboundHandler.channelRead(context:data:) in conformance ProxyHandler"),
    ("  request parse (ClientRequestStream.next)", "ClientRequestStream.next()"),
    ("    HTTPRequestHead fields conversion", "ParsedFields.headers.getter"),
    ("  admission (validate, normalise, route, limits, rewrite)", "RequestAdmission.admit("),
    ("    validation", "RequestValidator.validate("),
    ("    header rewrite", "HeaderPolicy.rewriteRequest("),
    ("  authentication (introspection core: credential key, cache hit)", "IntrospectionCore.continueAttempts("),
    ("    identity cache lookup", "IdentityCache.lookup("),
    ("  verdict", "CallerAdmission.verdict("),
    ("  caller admission (user limit, identity headers)", "CallerAdmission.prepareForwardedHead("),
    ("  upstream lease", "UpstreamPool.lease"),
    ("  upstream head write", "UpstreamRequestWriter.writeHead("),
    ("upstream bytes, whole (UpstreamHandler.channelRead)", "_ChannelInboundHandler.channelRead(context:data:) in conformance UpstreamHandler"),
    ("  response parse", "UpstreamResponseParser.next("),
    ("  response head write", "HeaderPolicy.writeRelayedHead("),
    ("socket writes (flush)", "BaseSocketChannel.flushNow()"),
    ("timers (schedule, cancel)", "SelectableEventLoop.scheduleTask"),
    ("malloc", "malloc"),
    ("free", "free"),
    ("swift_retain + swift_release (exclusive)", None),
    ("generic metadata lookups", "swift_getGenericMetadata"),
    ("exclusivity checks", "swift_beginAccess"),
]

LINE = re.compile(r"^\s*([0-9,]+)\s+\(\s*[0-9.]+%\)\s+(?:\S*?:)?(\S+)(?:\s+\[(.*)\])?\s*$")


def annotate(path, inclusive):
    args = ["callgrind_annotate", "--threshold=100", path]
    if inclusive:
        args.insert(1, "--inclusive=yes")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows, total = [], 0
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            continue
        match = LINE.match(line)
        if match:
            rows.append((int(match.group(1).replace(",", "")), match.group(2)))
    return total, rows


def demangle(names):
    result = subprocess.run(
        ["swift", "demangle", "--simplified", "--compact"],
        input="\n".join(names) + "\n", capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    return result if len(result) == len(names) else names


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    stages = STAGES if "--no-stages" not in sys.argv[4:] else []
    total, inclusive = annotate(path, inclusive=True)
    _, exclusive = annotate(path, inclusive=False)
    names = demangle([name for _, name in inclusive])
    inclusive = [(cost, name) for (cost, _), name in zip(inclusive, names)]
    exclusive_names = demangle([name for _, name in exclusive])
    exclusive = [(cost, name) for (cost, _), name in zip(exclusive, exclusive_names)]

    print(f"   total: {total / requests:,.0f} instructions per request")
    if stages:
        print(f"   {'stage':<60} {'instr/req':>10} {'share':>6}")
    for label, pattern in stages:
        if pattern is None:
            cost = sum(c for c, n in exclusive if n in ("swift_retain", "swift_release"))
        else:
            matches = [c for c, n in inclusive if pattern in n]
            if pattern in ("malloc", "free"):
                matches = [c for c, n in inclusive if n == pattern or n.startswith(pattern + " ")]
            cost = max(matches, default=0)
        print(f"   {label:<60} {cost / requests:>10,.0f} {100 * cost / max(total, 1):>5.1f}%")
    print(f"   top {top} functions by inclusive instructions per request:")
    for cost, name in inclusive[:top]:
        print(f"   {cost / requests:>10,.0f}  {name[:140]}")
    print(f"   top {top} functions by exclusive instructions per request:")
    for cost, name in exclusive[:top]:
        print(f"   {cost / requests:>10,.0f}  {name[:140]}")


if __name__ == "__main__":
    main()
