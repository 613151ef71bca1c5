"""A local S3-compatible server for the tests: moto's server mode, in its own process, on loopback.

Real HTTP and real SigV4: the server checks credentials (an IAM user it knows, created before
authentication is switched on), so a wrong secret is refused as a real store refuses it.
Parts may be as small as MIN_PART_BYTES, so a resumed multipart upload needs only a small
artifact.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["S3Server", "start_s3_server", "MIN_PART_BYTES", "BUCKET"]

MIN_PART_BYTES = 64 * 1024
BUCKET = "fedplane-test"
_POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'


@dataclass
class S3Server:
    endpoint: str
    key: str
    secret: str
    bucket: str
    process: subprocess.Popen

    def client(self, *, secret: str | None = None):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
                            aws_secret_access_key=secret or self.secret, region_name="us-east-1")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_s3_server(log_path: Path, *, timeout: float = 30.0) -> S3Server:
    import boto3

    port = _free_port()
    env = {**os.environ, "S3_UPLOAD_PART_MIN_SIZE": str(MIN_PART_BYTES), "AWS_DEFAULT_REGION": "us-east-1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            httpx.get(f"{endpoint}/moto-api/data.json", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto's server did not answer within {timeout} s") from None
            time.sleep(0.05)  # polling a starting server, with a deadline
    # Before authentication is on: a user with an access key allowed everything in S3, and the bucket.
    iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup",
                       region_name="us-east-1")
    iam.create_user(UserName="fedplane")
    iam.put_user_policy(UserName="fedplane", PolicyName="s3", PolicyDocument=_POLICY)
    key = iam.create_access_key(UserName="fedplane")["AccessKey"]
    server = S3Server(endpoint=endpoint, key=key["AccessKeyId"], secret=key["SecretAccessKey"], bucket=BUCKET,
                      process=process)
    server.client().create_bucket(Bucket=BUCKET)
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0", timeout=5).raise_for_status()
    return server
