"""Hashing + signing + event ID for a typical m.room.message event, on one core.

    .venv/bin/python bench/bench_event_signing.py [--seconds 3] [--version 12]

Prints events/s for `hash_sign_and_id`, and beside it the baseline measured in the same run:
a bare ed25519 signature of the same signed bytes (the floor no implementation can beat), so
the ratio shows what the JSON work costs on top of the cryptography. Rates are per second of
this process's CPU time (one core), so busy neighbours on the machine skew them less.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from homeserver.canonicaljson import encode_checked
from homeserver.crypto.event_signing import hash_sign_and_id
from homeserver.crypto.hashes import reference_hash_input
from homeserver.crypto.keys import SigningKey
from homeserver.events.redaction import redact
from homeserver.room_versions import KNOWN_ROOM_VERSIONS


def typical_message(seq: int) -> dict[str, object]:
    return {
        "type": "m.room.message",
        "room_id": "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
        "sender": "@alice:example.org",
        "origin_server_ts": 1_700_000_000_000 + seq,
        "depth": 1000 + seq,
        "content": {
            "msgtype": "m.text",
            "body": "Hello there! Shall we meet at 10:30 to go through the release notes?",
            "m.mentions": {"user_ids": ["@bob:example.org"]},
        },
        "prev_events": ["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"],
        "auth_events": [
            "$aGiJ5t1mZbEWvOJuvQfz0w9ot7cDCzI0V_ItqPfxRmU",
            "$Lx0nvJ6H1nZqYcBE8cZJx5cnCz9mQkNc1ZdsbCnO2yE",
            "$9dM2cMd6QUVN1c4uxV6ZtWAMtpBCjHVPKoWvEnbtYvM",
        ],
        "unsigned": {"transaction_id": "m1700000000000.42"},
    }


def rate(work: Callable[[int], object], seconds: float) -> float:
    done = 0
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(200):
            work(done)
            done += 1
        now = time.process_time()
        if now >= deadline:
            return done / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating the two measures")
    parser.add_argument("--version", default="12", choices=sorted(KNOWN_ROOM_VERSIONS, key=int))
    args = parser.parse_args()
    version = KNOWN_ROOM_VERSIONS[args.version]
    key = SigningKey.generate()
    events = [typical_message(i) for i in range(1000)]

    def full(i: int) -> object:
        return hash_sign_and_id(events[i % 1000], version, "example.org", key)

    signed = hash_sign_and_id(events[0], version, "example.org", key)[1]
    signed_bytes = reference_hash_input(redact(signed, version), encode_checked)

    def bare_sign(i: int) -> object:
        return key.sign(signed_bytes)

    rate(full, 0.3)  # warm up
    # Alternate the two so that a noisy neighbour hurts both alike; report the best and the median.
    measured, baseline = [], []
    for _ in range(args.rounds):
        baseline.append(rate(bare_sign, args.seconds))
        measured.append(rate(full, args.seconds))
    best, best_base = max(measured), max(baseline)
    median, median_base = statistics.median(measured), statistics.median(baseline)
    print(f"room version {version.identifier}, event of {len(encode_checked(signed))} bytes signed")
    print(f"hash_sign_and_id:      best {best:8,.0f} events/s ({1e6 / best:5.1f} µs), median {median:8,.0f}")
    print(f"baseline ed25519 sign: best {best_base:8,.0f} sigs/s   ({1e6 / best_base:5.1f} µs), ", end="")
    print(f"median {median_base:8,.0f}")
    print(f"ratio to baseline:     best {best / best_base:8.2f}, median {median / median_base:.2f}")


if __name__ == "__main__":
    main()
