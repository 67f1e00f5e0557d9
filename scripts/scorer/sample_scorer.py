#!/usr/bin/env python3
"""A sample external scorer for capg (protocol: proto/capg/v1/scorer.proto, docs/scorer.md).

Serves capg's reward requests on stdin/stdout (default: one process per rank, started by
`scorer_command`) or on a Unix socket (`--socket PATH`: one process shared by all ranks, a
thread per connection). Python 3 standard library only: the length-delimited framing and the
few protobuf messages are encoded and decoded by hand below (the wire format is documented at
https://protobuf.dev/programming-guides/encoding/).

Reward: the LETOR built-in reward of capg, r = q = (2^rel − 1)/(2^4 − 1) of the chosen
document (item id = the document's position in its query, query_key = the qid), read from
the same file as capg's training data (`--letor FILE`). With `capg train --reward expected`
the run is therefore the same as with the built-in reward.

Failure modes for tests: --die-after N (exit after answering N batches), --garbage (answer
batches with bytes that are not a ScorerReply), --hang (never answer a batch), --protocol-version V (announce V),
--wrong-count (one reward too few), --nan (a NaN reward), --fail (answer with ScorerFailure).
"""
import argparse
import os
import socket
import struct
import sys
import threading

PROTOCOL_VERSION = 1


# ---- wire format -----------------------------------------------------------------------

def encode_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varint(buf, pos):
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yields (field number, wire type, value) of a message; LEN values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = decode_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = decode_varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def field_varint(number, v):
    return encode_varint(number << 3) + encode_varint(v) if v else b""


def field_bytes(number, b):
    return encode_varint((number << 3) | 2) + encode_varint(len(b)) + b


def varints(wire, value):
    """A repeated uint64 field's values, packed (LEN) or not."""
    if wire == 0:
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = decode_varint(value, pos)
        out.append(v)
    return out


def parse_item(buf):
    item = dict(query_id=0, query_key="", sample=0, chosen=0, candidates=[])
    for number, wire, value in fields(buf):
        if number == 1:
            item["query_id"] = value
        elif number == 2:
            item["query_key"] = value.decode()
        elif number == 3:
            item["sample"] = value
        elif number == 4:
            item["chosen"] = value
        elif number == 5:
            item["candidates"] += varints(wire, value)
    return item


def parse_request(buf):
    """ScorerRequest → ("hello", dict) | ("batch", dict) | ("goodbye", None)."""
    for number, _, value in fields(buf):
        if number == 1:
            hello = {}
            for n, _, v in fields(value):
                hello[{1: "protocol_version", 2: "capg_version", 3: "rank", 4: "ranks", 5: "data",
                       6: "config_hash"}.get(n, str(n))] = v
            return "hello", hello
        if number == 2:
            batch = dict(batch_id=0, step=0, rank=0, items=[])
            for n, _, v in fields(value):
                if n == 1:
                    batch["batch_id"] = v
                elif n == 2:
                    batch["step"] = v
                elif n == 3:
                    batch["rank"] = v
                elif n == 4:
                    batch["items"].append(parse_item(v))
            return "batch", batch
        if number == 3:
            return "goodbye", None
    raise ValueError("empty ScorerRequest")


def hello_reply(version, name):
    return field_bytes(1, field_varint(1, version) + field_bytes(2, name.encode()))


def rewards_reply(batch_id, rewards):
    packed = b"".join(struct.pack("<d", r) for r in rewards)
    return field_bytes(2, field_varint(1, batch_id) + (field_bytes(2, packed) if rewards else b""))


def failure_reply(message):
    return field_bytes(3, field_bytes(1, message.encode()))


# ---- framing -----------------------------------------------------------------------------

def read_frame(read):
    """One length-delimited message, or None at a clean end of stream."""
    shift = length = 0
    first = True
    while True:
        b = read(1)
        if not b:
            if first:
                return None
            raise EOFError("stream ended inside a length prefix")
        first = False
        length |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            break
        shift += 7
    data = b""
    while len(data) < length:
        chunk = read(length - len(data))
        if not chunk:
            raise EOFError("stream ended inside a message")
        data += chunk
    return data


def write_frame(write, payload):
    write(encode_varint(len(payload)) + payload)


# ---- the reward --------------------------------------------------------------------------

def load_letor_gains(path, max_rel=4):
    """qid → the gains (2^rel − 1)/(2^max_rel − 1) of its documents, in file order."""
    gains = {}
    denominator = float((1 << max_rel) - 1)
    with open(path, "rb") as f:
        for line in f:
            parts = line.split(b"#", 1)[0].split()
            if len(parts) < 2:
                continue
            rel = int(float(parts[0]))
            qid = parts[1].decode()[4:]
            gains.setdefault(qid, []).append(float((1 << rel) - 1) / denominator)
    return gains


class Scorer:
    def __init__(self, args):
        self.args = args
        self.gains = load_letor_gains(args.letor) if args.letor else None
        self.name = "sample_scorer.py" + (f" ({os.path.basename(args.letor)})" if args.letor else " (constant 0)")

    def reward(self, item):
        if self.gains is None:
            return 0.0
        return self.gains[item["query_key"]][item["chosen"]]

    def serve(self, read, write):
        answered = 0
        while True:
            frame = read_frame(read)
            if frame is None:
                return
            kind, body = parse_request(frame)
            if kind == "goodbye":
                return
            if kind == "hello":
                write_frame(write, hello_reply(self.args.protocol_version, self.name))
                continue
            if self.args.hang:
                threading.Event().wait()
            if self.args.garbage:
                # A well-framed 8-byte message that is not a ScorerReply (0xff… is no field key).
                write(b"\x08" + b"\xff" * 8)
                continue
            if self.args.fail:
                write_frame(write, failure_reply("sample scorer: asked to fail (--fail)"))
                continue
            try:
                rewards = [self.reward(item) for item in body["items"]]
            except (KeyError, IndexError) as e:
                write_frame(write, failure_reply(f"sample scorer: unknown query or document {e}"))
                continue
            if self.args.wrong_count and rewards:
                rewards = rewards[:-1]
            if self.args.nan and rewards:
                rewards[0] = float("nan")
            write_frame(write, rewards_reply(body["batch_id"], rewards))
            answered += 1
            if self.args.die_after is not None and answered >= self.args.die_after:
                os._exit(3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--letor", help="LETOR/SVMlight file whose labels give the rewards (capg's --train file)")
    ap.add_argument("--socket", help="serve on this Unix socket (shared by all ranks) instead of stdin/stdout")
    ap.add_argument("--protocol-version", type=int, default=PROTOCOL_VERSION)
    ap.add_argument("--die-after", type=int, default=None)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--wrong-count", action="store_true")
    ap.add_argument("--nan", action="store_true")
    ap.add_argument("--fail", action="store_true")
    args = ap.parse_args()
    scorer = Scorer(args)
    if not args.socket:
        out = sys.stdout.buffer

        def write(b):
            out.write(b)
            out.flush()
        scorer.serve(sys.stdin.buffer.read, write)
        return
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(args.socket)
    server.listen(64)

    def handle(conn):
        with conn:
            f = conn.makefile("rb")
            try:
                scorer.serve(f.read, conn.sendall)
            except (BrokenPipeError, ConnectionResetError, EOFError):
                pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
