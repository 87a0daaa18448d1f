"""The app plus bench-only routes that do one thing each (`python bench/run.py --floors`).

`/bench/floor/redis-get` makes one Redis round trip; `/bench/floor/sign` signs one code (CBOR,
ES256, base45) with no store at all; `/bench/floor/verify` verifies one code (base45, CBOR,
ES256), no store; `/bench/floor/durable-write` makes one Redis write, which the production
persistence (`appendfsync always`) fsyncs before it answers. Their throughput relative to
`/healthz` is a ceiling for any endpoint that needs that work: a health-code read needs a round
trip and a signature; a scan needs a verification and a durable write. Never served outside bench/.
"""
from __future__ import annotations

from flask import Flask, jsonify

from app import create_app as create_healthcode_app
from core.codes import CodeClaims
from core.model import Color


def create_app() -> Flask:
    app = create_healthcode_app()
    services = app.extensions["healthcode"]
    client = app.extensions["healthcode.runtime"].store.client
    codes = services.codes._issuer

    @app.get("/bench/floor/redis-get")
    def floor_redis_get():
        client.get("hc:bench:nothing")
        return jsonify(status="ok")

    @app.get("/bench/floor/sign")
    def floor_sign():
        claims = CodeClaims("HCDEV", bytes(16), Color.GREEN, 1_800_000_000, 1_800_000_060, "张*三")
        return jsonify(status="ok", qr=codes.signer.sign(claims))

    sample = codes.signer.sign(
        CodeClaims("HCDEV", bytes(16), Color.GREEN, 1_800_000_000, 1_800_000_060, "张*三"))

    @app.get("/bench/floor/verify")
    def floor_verify():
        claims = codes.verifier.verify(sample)
        return jsonify(status="ok", color=str(claims.color))

    @app.get("/bench/floor/durable-write")
    def floor_durable_write():
        client.set("hc:bench:written", "x")
        return jsonify(status="ok")

    return app
