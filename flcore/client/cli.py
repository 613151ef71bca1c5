"""fedplane-client join --api URL --api-key KEY [--execution ID] --data FILE

Registers this machine as an FL client (with a data profile computed locally),
optionally assigns it to an execution, then runs a Flower SuperNode connected to
the deployment's SuperLink, reporting heartbeats until the execution ends (or
forever with --stay, or until Ctrl-C).

The client's identity is an ECDSA P-384 key pair (--key, default DATA.fedplane-node.key,
created on first use): its public key is sent on registration; when the deployment
uses Flower node authentication, the SuperNode signs in with the private key and
keeps the same node id every time it joins.

The same key gets the client a short-lived certificate from the platform's client CA (a CSR
signed with it), stored beside the key (KEY.crt) and renewed at two thirds of its lifetime from
the heartbeat loop. With --mtls-api (the client-only TLS listener, or a proxy that verifies
client certificates) heartbeats and execution status authenticate by that certificate.
"""
from __future__ import annotations

import argparse
import platform
import signal
import sys
import threading
from pathlib import Path

import httpx
import psutil

from ..runtime.credentials import node_key
from ..runtime.fab import DEFAULT_CLIENTAPP
from ..runtime.supernode import SuperNodeProcess
from .api import ApiError, FedplaneApi
from .certificates import CertificateKeeper, CertifiedSession
from .profile import data_profile

__all__ = ["main"]

TERMINAL = {"completed", "failed", "stopped"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedplane-client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    join = sub.add_parser("join", help="register and join as a Flower SuperNode")
    join.add_argument("--api", required=True, help="fedplane base URL, e.g. http://10.0.0.5:8000")
    join.add_argument("--api-key", required=True, help="an API key with fl:clients:manage")
    join.add_argument("--data", required=True, type=Path, help="local data: .npz (x, y) or .csv with a label column")
    join.add_argument("--execution", help="execution to assign this client to (role trainer)")
    join.add_argument("--name", default=platform.node(), help="client name (default: host name)")
    join.add_argument("--region", default="", help="location region")
    join.add_argument("--compute", default="cpu", choices=["cpu", "gpu", "mobile"])
    join.add_argument("--superlink", help="override the SuperLink address fedplane advertises")
    join.add_argument("--root-certificates", type=Path, help="CA certificate (PEM) when the SuperLink uses TLS")
    join.add_argument("--key", type=Path,
                      help="SuperNode private key (OpenSSH ECDSA), created if missing "
                           "(default: DATA.fedplane-node.key next to the data file)")
    join.add_argument("--mtls-api", help="fedplane's client-only mTLS listener (or a proxy verifying client "
                                         "certificates), e.g. https://10.0.0.5:8443: heartbeats go there, by certificate")
    join.add_argument("--api-ca", type=Path, help="CA certificate (PEM) that verifies --mtls-api's server certificate")
    join.add_argument("--no-certificate", action="store_true", help="do not ask for a client certificate")
    join.add_argument("--stay", action="store_true", help="stay connected after the execution ends")
    join.add_argument("--heartbeat", type=float, default=5.0, help="seconds between status reports")
    join.add_argument("--stock", action="store_true",
                      help="let the SuperNode start a ClientApp process per message (slower) instead of "
                           "fedplane's warm executor")
    join.add_argument("--client-app", default=DEFAULT_CLIENTAPP, metavar="MODULE:APP",
                      help="the ClientApp the warm executor imports at start: the one your executions use "
                           "(default %(default)s, which needs torch; flcore.runtime.numpy_app:app does not)")
    join.add_argument("--log-dir", type=Path, help="where the SuperNode writes its logs (default: a temp dir)")
    profile = sub.add_parser("profile", help="print the data profile of a file")
    profile.add_argument("--data", required=True, type=Path)
    return parser


def _readings() -> dict:
    return {"cpu": psutil.cpu_percent(interval=None), "memory": psutil.virtual_memory().percent}


def _certified(args: argparse.Namespace, api: FedplaneApi, client_id: str, key_path: Path) -> CertifiedSession | None:
    """The client's certificate session; None when not asked for, or (without --mtls-api, which
    needs one) when the platform issues no certificates."""
    if args.no_certificate and not args.mtls_api:
        return None
    session = CertifiedSession(CertificateKeeper(key_path), api, client_id, mtls_api=args.mtls_api,
                               server_ca=args.api_ca)
    try:
        session.start()
    except ApiError as exc:
        if args.mtls_api or exc.code not in ("CLIENT_CA_UNAVAILABLE", "NOT_FOUND"):
            raise
        print(f"no client certificate ({exc}); continuing with the API key", file=sys.stderr)
        return None
    print(f"client certificate {session.keeper.cert_path}", flush=True)
    return session


def join(args: argparse.Namespace) -> int:
    api = FedplaneApi(args.api, args.api_key)
    profile = data_profile(args.data)
    key_path = args.key or args.data.resolve().with_name(args.data.name + ".fedplane-node.key")
    try:
        public_key = node_key(key_path).decode()  # reused: the same key is the same node
    except (OSError, ValueError) as exc:
        print(f"SuperNode key {key_path}: {exc}", file=sys.stderr)
        return 2
    client = api.register(name=args.name, capability={"compute": args.compute}, dataProfile={
        k: profile[k] for k in ("samples", "distribution", "quality")},
        location={"region": args.region} if args.region else {}, publicKey=public_key)
    client_id, flower = client["id"], client["flower"]
    session = _certified(args, api, client_id, key_path)
    if not flower.get("insecure", True) and args.root_certificates is None:
        print("the SuperLink uses TLS: pass --root-certificates CA.pem", file=sys.stderr)
        return 2
    if args.execution:
        api.assign(client_id, args.execution)
    superlink = args.superlink or flower["superlinkAddress"]
    # Only with node auth: an insecure SuperNode refuses a private key.
    auth_key = key_path if flower.get("nodeAuth") else None
    node = SuperNodeProcess(superlink, {"fedplane-client-id": client_id, "data-path": str(args.data.resolve())},
                            root_certificates=args.root_certificates, auth_private_key=auth_key,
                            warm=not args.stock, preload=args.client_app,
                            # the HE ClientApp fetches its execution's secret context with these (he_app.py)
                            env={"FEDPLANE_API_URL": args.api, "FEDPLANE_API_KEY": args.api_key},
                            log_path=args.log_dir / f"supernode-{client_id}.log" if args.log_dir else None)
    print(f"client {client_id} registered; starting SuperNode -> {superlink}", flush=True)
    node.start()
    api.set_status(client_id, "active", {"nodeId": node.node_id, **_readings()})
    print(f"SuperNode {node.node_id} connected", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = 0
    try:
        while not stop.wait(args.heartbeat):
            if not node.is_alive():
                print("SuperNode exited:\n" + node.log_text()[-2000:], file=sys.stderr)
                code = 1
                break
            try:
                if session is not None:
                    session.tick()  # renews at two thirds of the certificate's life; the SuperNode runs on
                reporter = session.status_api if session is not None else api
                reporter.set_status(client_id, "active", _readings())
                finished = args.execution and not args.stay and \
                    reporter.execution(args.execution)["status"] in TERMINAL
            except httpx.TransportError as exc:  # the platform is restarting or unreachable: keep training
                print(f"heartbeat not delivered ({exc}); trying again in {args.heartbeat}s", file=sys.stderr)
                continue
            except ApiError as exc:
                if exc.status < 500 and exc.status != 429:
                    raise
                # 503 while its database or Redis is down (or a 500, a 429): an outage of the
                # platform, not of this client, whose SuperNode keeps training
                print(f"heartbeat not delivered ({exc}); trying again in {args.heartbeat}s", file=sys.stderr)
                continue
            if finished:
                print(f"execution {args.execution} finished", flush=True)
                break
    except ApiError as exc:
        print(f"fedplane API error: {exc}", file=sys.stderr)
        code = 2
    finally:
        node.stop()
        try:
            api.set_status(client_id, "offline")
        except Exception:  # the platform may be gone already; the client is leaving anyway
            pass
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "profile":
        import json
        print(json.dumps(data_profile(args.data), indent=2))
        return 0
    try:
        return join(args)
    except ApiError as exc:
        print(f"fedplane API error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
