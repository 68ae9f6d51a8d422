"""Benchmark: our envelope (KMS data key + `cryptography` AESGCM) against the AWS Encryption SDK.

    .venv/bin/python bench/bench_crypto.py [--runs 5] [--seconds 1.0]

Prints three tables:

1. import time, each in a fresh interpreter (median of --runs);
2. stored size of a 100-byte and a 1 KiB secret, both formats using the same KMS data key
   source (moto's KMS in-process), plus a projection to a real KMS encrypted data key;
3. encrypt/decrypt operations per second with a warm data key cache (no KMS call in the
   timed loop; the KMS call count is printed to prove it).

A script, not a test: figures depend on the machine. Nothing leaves the process but the
import-time subprocesses; KMS is moto's, in-process.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "layers" / "shared"
sys.path.insert(0, str(SHARED))

REGION = "us-east-1"
# A real KMS CiphertextBlob for an AES_256 data key under a symmetric KMS key is commonly
# 184 bytes (an observed size, not a documented guarantee); moto's is shorter.
REAL_KMS_EDK_BYTES = 184
SECRET_SIZES = (100, 1024)


# -- 1. import time ------------------------------------------------------------------------------
IMPORTS: list[tuple[str, str, str]] = [
    # (label, setup imported before the clock starts, statement timed)
    ("oauth_broker.crypto.envelope", "", "import oauth_broker.crypto.envelope"),
    (
        "  same, stdlib deps already loaded",
        "import dataclasses, typing, re, base64, threading, collections",
        "import oauth_broker.crypto.envelope",
    ),
    (
        "  + AESGCM (paid on first encrypt)",
        "",
        "import oauth_broker.crypto.envelope; from cryptography.hazmat.primitives.ciphers.aead import AESGCM",
    ),
    (
        "oauth_broker.crypto.state_box + HKDF",
        "",
        "import oauth_broker.crypto.state_box; from cryptography.hazmat.primitives.kdf.hkdf import HKDF",
    ),
    ("boto3 (any KMS client needs it)", "", "import boto3"),
    ("aws_encryption_sdk (imports boto3)", "", "import aws_encryption_sdk"),
]


def time_import(setup: str, statement: str, runs: int) -> list[float]:
    code = f"{setup}\nimport time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(SHARED), "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # warm .pyc
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        results.append(float(out.stdout.strip()) * 1000)
    return results


def import_table(runs: int) -> None:
    print(f"\n## Import time (fresh interpreter each, median of {runs}, ms)\n")
    print(f"| {'module':<42} | {'median':>8} | {'min':>8} | {'max':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for label, setup, statement in IMPORTS:
        times = time_import(setup, statement, runs)
        print(f"| {label:<42} | {statistics.median(times):8.1f} | {min(times):8.1f} | {max(times):8.1f} |")


# -- shared setup: moto KMS, both implementations ------------------------------------------------
class KmsCounter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **_: Any) -> None:
        self.calls += 1


def aws_env() -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_SESSION_TOKEN="bench",
        AWS_DEFAULT_REGION=REGION,
    )


def b64url_len(n: int) -> int:
    return len(base64.urlsafe_b64encode(bytes(n)).rstrip(b"="))


def b64_len(n: int) -> int:
    return len(base64.b64encode(bytes(n)))


class Contenders:
    """Our Envelope and the SDK (signed default suite and unsigned committing suite), one KMS key."""

    def __init__(self) -> None:
        import aws_encryption_sdk
        import boto3
        import botocore.session
        from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

        from oauth_broker.crypto.envelope import DataKeyCache, EncryptionContext, Envelope

        self.kms = boto3.client("kms", region_name=REGION)
        self.key_arn = self.kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
        self.ours_counter = KmsCounter()
        self.kms.meta.events.register("before-call.kms.*", self.ours_counter)
        self.ctx = EncryptionContext(
            tenant="tenant-0001", record_id="con_5f0c1a2b3c4d5e6f", purpose="refresh_token"
        )
        self.envelope = Envelope(
            self.kms, self.key_arn, cache=DataKeyCache(max_uses=10**9, max_age_seconds=3600)
        )
        self.envelope_no_cache = Envelope(self.kms, self.key_arn)

        session = botocore.session.Session()
        self.sdk_counter = KmsCounter()
        session.register("before-call.kms.*", self.sdk_counter)
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[self.key_arn], botocore_session=session
        )
        self.sdk = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self.provider = provider
        self.caching_cmm = aws_encryption_sdk.CachingCryptoMaterialsManager(
            master_key_provider=provider,
            cache=aws_encryption_sdk.LocalCryptoMaterialsCache(capacity=100),
            max_age=3600.0,
            max_messages_encrypted=2**32,
        )
        signed = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
        unsigned = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
        self.suites = {
            "SDK, default suite (signed, P-384)": signed,
            "SDK, unsigned committing suite": unsigned,
        }

    def sdk_encrypt(self, plaintext: bytes, algorithm: Any, *, cached: bool) -> bytes:
        source = {"materials_manager": self.caching_cmm} if cached else {"key_provider": self.provider}
        ciphertext, _header = self.sdk.encrypt(
            source=plaintext, encryption_context=self.ctx.as_kms(), algorithm=algorithm, **source
        )
        return bytes(ciphertext)

    def sdk_decrypt(self, message: bytes, *, cached: bool) -> bytes:
        source = {"materials_manager": self.caching_cmm} if cached else {"key_provider": self.provider}
        plaintext, _header = self.sdk.decrypt(source=message, **source)
        return bytes(plaintext)


# -- 2. size -------------------------------------------------------------------------------------
def size_table(c: Contenders) -> None:
    print("\n## Stored size (bytes; our blob is an ASCII string, the SDK message is binary)\n")
    blob = c.envelope_no_cache.encrypt(os.urandom(100), c.ctx)
    moto_edk = len(base64.urlsafe_b64decode(blob.split(".")[1] + "=" * (-len(blob.split(".")[1]) % 4)))
    edk_delta = REAL_KMS_EDK_BYTES - moto_edk
    print(
        f"moto's encrypted data key: {moto_edk} B; projection uses a real KMS one of ~{REAL_KMS_EDK_BYTES} B."
    )
    print(f"Encryption context used by both: {c.ctx.as_kms()} (the SDK also stores it in its header).\n")
    header = f"| {'format':<44} |"
    rule = f"|{'-' * 46}|"
    for size in SECRET_SIZES:
        header += f" {f'{size} B secret':>13} | overhead | real-KMS proj. |"
        rule += f"{'-' * 15}|{'-' * 10}|{'-' * 16}|"
    print(header)
    print(rule)

    def row(label: str, measure: Callable[[bytes], tuple[int, int]]) -> None:
        """measure(plaintext) -> (stored size, stored size with a real KMS data key)."""
        line = f"| {label:<44} |"
        for size in SECRET_SIZES:
            stored, projected = measure(os.urandom(size))
            line += f" {stored:>13} | {stored - size:>8} | {projected:>14} |"
        print(line)

    def ours(plaintext: bytes) -> tuple[int, int]:
        n = len(c.envelope_no_cache.encrypt(plaintext, c.ctx))
        return n, n - b64url_len(moto_edk) + b64url_len(REAL_KMS_EDK_BYTES)

    def sdk(algorithm: Any, *, as_base64: bool) -> Callable[[bytes], tuple[int, int]]:
        def measure(plaintext: bytes) -> tuple[int, int]:
            raw = len(c.sdk_encrypt(plaintext, algorithm, cached=False))
            if as_base64:
                return b64_len(raw), b64_len(raw + edk_delta)
            return raw, raw + edk_delta

        return measure

    def ours_binary(plaintext: bytes) -> tuple[int, int]:
        parts = c.envelope_no_cache.encrypt(plaintext, c.ctx).split(".")[1:]
        n = sum(len(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts)
        return n, n + edk_delta

    row("ours: v1.<edk>.<nonce>.<ct+tag> (string)", ours)
    row("  same bytes, stored binary (reference)", ours_binary)
    for label, algorithm in c.suites.items():
        row(f"{label} (binary)", sdk(algorithm, as_base64=False))
        row("  same, base64 (for a string attribute)", sdk(algorithm, as_base64=True))


# -- 3. throughput -------------------------------------------------------------------------------
def ops_per_second(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def throughput_table(c: Contenders, seconds: float) -> None:
    print(
        f"\n## Operations per second, warm data key cache (~{seconds:.1f} s each; "
        "KMS calls counted in the timed loop)\n"
    )
    columns = f"{'secret':>6} | {'encrypt/s':>10} | {'decrypt/s':>10} | {'KMS calls':>9}"
    print(f"| {'implementation':<44} | {columns} |")
    print(f"|{'-' * 46}|{'-' * 8}|{'-' * 12}|{'-' * 12}|{'-' * 11}|")
    for size in SECRET_SIZES:
        plaintext = os.urandom(size)
        blob = c.envelope.encrypt(plaintext, c.ctx)
        assert c.envelope.decrypt(blob, c.ctx) == plaintext
        before = c.ours_counter.calls
        enc = ops_per_second(partial(c.envelope.encrypt, plaintext, c.ctx), seconds)
        dec = ops_per_second(partial(c.envelope.decrypt, blob, c.ctx), seconds)
        calls = c.ours_counter.calls - before
        print(f"| {'ours (DataKeyCache)':<44} | {size:>6} | {enc:>10,.0f} | {dec:>10,.0f} | {calls:>9} |")
        for label, algorithm in c.suites.items():
            message = c.sdk_encrypt(plaintext, algorithm, cached=True)
            assert c.sdk_decrypt(message, cached=True) == plaintext
            before = c.sdk_counter.calls
            enc = ops_per_second(partial(c.sdk_encrypt, plaintext, algorithm, cached=True), seconds)
            dec = ops_per_second(partial(c.sdk_decrypt, message, cached=True), seconds)
            calls = c.sdk_counter.calls - before
            name = f"{label.split(' (')[0]} + caching CMM"
            print(f"| {name:<44} | {size:>6} | {enc:>10,.0f} | {dec:>10,.0f} | {calls:>9} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per import (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of each throughput loop")
    args = parser.parse_args()

    import aws_encryption_sdk
    import cryptography

    print(
        f"# Crypto benchmark (Python {sys.version.split()[0]}, cryptography {cryptography.__version__}, "
        f"aws-encryption-sdk {aws_encryption_sdk.__version__})"
    )
    import_table(args.runs)

    aws_env()
    import warnings

    from moto import mock_aws

    warnings.filterwarnings("ignore")  # the SDK warns about its own deprecations; not ours to fix here
    with mock_aws():
        contenders = Contenders()
        size_table(contenders)
        throughput_table(contenders, args.seconds)


if __name__ == "__main__":
    main()
