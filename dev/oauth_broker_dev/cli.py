"""`oauth-broker`: the local runtime's command line.

oauth-broker dev [--port N] [--providers-file F]      serve the whole broker on 127.0.0.1
oauth-broker dev-token --tenant T --user U [--admin]  print a JWT the local broker accepts
oauth-broker invoke FUNCTION -e events/FILE.json      run one function with a saved event
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path


def _dev(args: argparse.Namespace) -> int:
    from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions

    providers = args.providers_file or os.environ.get("BROKER_PROVIDERS_FILE")
    if providers:
        _check_providers_file(providers)
    real_google = bool(os.environ.get("GOOGLE_CLIENT_ID") and os.environ.get("GOOGLE_CLIENT_SECRET"))
    broker = LocalBroker(
        LocalBrokerOptions(port=args.port, providers_file=providers, fake_google=not real_google)
    )
    admin = _mint(tenant="demo", user="admin@demo", admin=True)
    google = "real Google (GOOGLE_CLIENT_ID is set)" if real_google else "the built-in fake Google"
    print(
        f"oauth-broker is serving on {broker.base_url}\n"
        f"  demo page:  {broker.base_url}/demo/\n"
        f"  API docs:   {broker.base_url}/docs   (OpenAPI: {broker.base_url}/v1/openapi.json)\n"
        f"  health:     {broker.base_url}/v1/health\n"
        f"  callback:   {broker.base_url}/v1/oauth/callback   (the redirect URI to register)\n"
        f"  Google:     {google}\n"
        f"  admin dev token (tenant demo):\n    {admin}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        broker.serve_forever()
    return 0


def _check_providers_file(path: str) -> None:
    from oauth_broker.providers.catalog import ProviderCatalog, ProviderCatalogError

    try:
        ProviderCatalog.load(path, allow_loopback=True)
    except (ProviderCatalogError, OSError) as exc:
        raise SystemExit(f"oauth-broker: bad providers file: {exc}") from None


def _mint(tenant: str, user: str, admin: bool) -> str:
    from oauth_broker_dev import devidp

    return devidp.mint(tenant, user, admin=admin)


def _dev_token(args: argparse.Namespace) -> int:
    print(_mint(args.tenant, args.user, args.admin))
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from oauth_broker_dev import lambda_runtime
    from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions

    event = json.loads(Path(args.event).read_text()) if args.event != "-" else json.load(sys.stdin)
    broker = LocalBroker(LocalBrokerOptions(providers_file=args.providers_file, fake_google=False))
    broker._prepare()
    try:
        result = lambda_runtime.invoke(args.function, event)
    finally:
        broker.stop()
    print(json.dumps(result, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oauth-broker", description="oauth-broker local runtime")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="serve the whole broker on 127.0.0.1")
    dev.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    dev.add_argument("--providers-file", help="extra or overriding provider definitions (YAML or JSON)")
    dev.set_defaults(func=_dev)

    tok = sub.add_parser("dev-token", help="print a JWT the local broker accepts")
    tok.add_argument("--tenant", required=True)
    tok.add_argument("--user", required=True)
    tok.add_argument("--admin", action="store_true", help="member of the broker-admin group")
    tok.set_defaults(func=_dev_token)

    inv = sub.add_parser("invoke", help="run one function in-process with a saved event")
    inv.add_argument("function", help="authorizer, authorize, callback, api, proxy, refresh or webhook")
    inv.add_argument("-e", "--event", required=True, help="event JSON file (as sam local invoke -e), or -")
    inv.add_argument("--providers-file")
    inv.set_defaults(func=_invoke)

    args = parser.parse_args(argv)
    if getattr(args, "providers_file", None) is None and os.environ.get("BROKER_PROVIDERS_FILE"):
        args.providers_file = os.environ["BROKER_PROVIDERS_FILE"]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
