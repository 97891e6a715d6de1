#!/usr/bin/env python3
"""Open N keep-alive HTTP/1.1 connections, send one request on each, read the response, and
then hold the connections idle.

    idle_clients.py --port 8080 --count 1000 [--concurrency 50] [--path /bench]

Protocol on stdout/stdin (for the driving shell script):
    prints  "READY <ok> <failed>"   once every connection has its response (or failed)
    waits   for a line on stdin (or EOF), then closes every connection
    prints  "CLOSED"
With --burst, the connections are closed right after their response (a warm-up), and the
script exits after printing "READY".
"""

import argparse
import asyncio
import resource
import sys


async def one_request(host, port, path, semaphore):
    async with semaphore:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: idle-clients\r\n"
            f"Accept: */*\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        length = 0
        chunked = False
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"status {status}")
        return reader, writer


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--path", default="/bench")
    parser.add_argument("--burst", action="store_true", help="close each connection after its response")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    semaphore = asyncio.Semaphore(args.concurrency)
    results = await asyncio.gather(
        *(one_request(args.host, args.port, args.path, semaphore) for _ in range(args.count)),
        return_exceptions=True,
    )
    connections = [r for r in results if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        print(f"first failure: {failures[0]!r}", file=sys.stderr)
    if args.burst:
        for _, writer in connections:
            writer.close()
        print(f"READY {len(connections)} {len(failures)}", flush=True)
        return

    print(f"READY {len(connections)} {len(failures)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)

    # Were any of them closed by the server while idle?
    closed_by_server = sum(1 for reader, _ in connections if reader.at_eof())
    for _, writer in connections:
        writer.close()
    await asyncio.sleep(0.2)
    print(f"CLOSED {closed_by_server}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
