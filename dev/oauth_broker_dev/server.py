"""The whole broker on one loopback port: `make dev`, the e2e tests and the benchmarks use it.

    /v1/...          the HTTP API (template routes -> real handlers, authorizer included)
    /fake-google/... a fake Google (consent page, token, JWKS, revocation, Gmail, People)
    /dev-idp/...     the development identity provider's JWKS, and POST /dev-idp/token for the demo
    /demo/           the demo frontend and connect.js
    /demo/webhook/...  the demo's webhook receiver (its tenant's signed events, polled by the page)
    /demo/gmail-push-settings  the tenant setting `gmail_push` that matches the fake's Pub/Sub
    /docs            Swagger UI over /v1/openapi.json (the pinned swagger-ui-py package's files)
    /_local/runtime.json  the functions' environment (AWS endpoint, table, key...), for `invoke`

The work queue (SQS, `RefreshQueue` with its dead-letter queue) is created there too, and
`LocalEventSourceMapping` pollers hand it to the refresh function as Lambda's event source
mapping does (`sqs_poller`), so the sweep and a big provider switch take the same path as in AWS.

AWS comes from moto's server on 127.0.0.1 unless AWS_ENDPOINT_URL is set. With `persist` (as
`oauth-broker dev` runs it) moto's data is saved under the data directory (`.local/`, or
BROKER_STATE_DIR) and restored at the next start: see `persistence`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from oauth_broker_dev import devidp
from oauth_broker_dev.aws_local import (
    LOCAL_REGION,
    MotoServer,
    bootstrap,
    ensure_work_queue,
    free_port,
    parameter_default,
)
from oauth_broker_dev.demo_webhook import PREFIX as DEMO_WEBHOOK_PREFIX
from oauth_broker_dev.demo_webhook import DemoWebhooks
from oauth_broker_dev.gateway import LocalHttpApi
from oauth_broker_dev.persistence import ExtraState, LocalStore, SnapshotUnreadable

STATIC_DIR = Path(__file__).parent / "static"

# Swagger UI from the pinned swagger-ui-py package (Swagger UI 5.25.3), served by this server: /docs
# works offline and never loads code from a CDN. validatorUrl null: no call to the online validator.
SWAGGER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>oauth-broker API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/v1/openapi.json", dom_id: "#ui", validatorUrl: null});</script>
</body></html>"""
SWAGGER_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}


def swagger_ui_dir() -> Path:
    """The static files of the installed swagger-ui-py (located without importing the package)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: `make venv` installs the dev dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@dataclass
class LocalBrokerOptions:
    port: int = 0
    providers_file: str | None = None
    aws_endpoint: str | None = None
    fake_google: bool = True
    table_name: str = "oauth-broker-local"
    bus_name: str = "oauth-broker-local"
    extra_env: dict[str, str] = field(default_factory=dict)
    persist: bool = False  # save the embedded moto's data (and the fake Google's grants) to disk
    state_dir: Path | None = None  # where (default: devidp.state_dir(), `.local/`)
    verbose: bool = False  # moto's request log and Powertools' empty-metrics warning (LOG_LEVEL=DEBUG)
    work_queue: bool = True  # the SQS work queue and its pollers (the event source mapping)
    queue_pollers: int = 2  # ScalingConfig.MaximumConcurrency, locally


# The fake Google's OAuth state, saved with the local store so that a connection made before a
# restart still refreshes and calls the API after it (mailboxes are reseeded at start).
FAKE_GOOGLE_STATE = ("_grants", "_refresh_tokens", "_access_tokens", "_consents")
STORE_FILE = "aws-state.pickle"


METRICS_FILE = "metrics.emf.jsonl"


def quiet_local_runtime(verbose: bool, state_dir: Path) -> None:
    """Every invocation writes its metrics as EMF documents on stdout, where Lambda hands them to
    CloudWatch; locally they go to `<state dir>/metrics.emf.jsonl` (one per line) unless `verbose`,
    so the terminal shows the logs. Powertools' "No application metrics" warning is silenced too."""
    if not verbose:
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        if "BROKER_METRICS_FILE" not in os.environ:
            state_dir.mkdir(parents=True, exist_ok=True)
            os.environ["BROKER_METRICS_FILE"] = str(state_dir / METRICS_FILE)


def _fake_google_state(fake: Any) -> ExtraState:
    def export() -> dict[str, Any]:
        with fake._lock:
            return {name: getattr(fake, name) for name in FAKE_GOOGLE_STATE if hasattr(fake, name)}

    def restore(saved: dict[str, Any]) -> None:
        with fake._lock:
            for name, value in saved.items():
                if name in FAKE_GOOGLE_STATE and hasattr(fake, name):
                    setattr(fake, name, value)

    return ExtraState("fake_google", export, restore)


def _aws_env(endpoint: str) -> None:
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    if endpoint.startswith("http://127.0.0.1") or endpoint.startswith("http://localhost"):
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")


class LocalBroker:
    def __init__(self, options: LocalBrokerOptions | None = None):
        self.options = options or LocalBrokerOptions()
        self.port = self.options.port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.moto: MotoServer | None = None
        self.fake_google: Any = None
        self.api: LocalHttpApi | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.event_bridge: Any = None  # LocalEventBridge: published events -> the webhook function
        self.store: LocalStore | None = None
        self._providers_path: Path | None = None  # the fake Google override it wrote (removed at stop)
        self.function_env: dict[str, str] = {}
        self.aws_endpoint: str | None = None
        self.queue_mapping: Any = None  # LocalEventSourceMapping: the work queue -> the refresh function
        self.demo_webhooks = DemoWebhooks(self.base_url)

    @property
    def state_dir(self) -> Path:
        return self.options.state_dir or devidp.state_dir()

    # -- setup -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        from oauth_broker.clients import aws_client

        quiet_local_runtime(self.options.verbose, self.state_dir)
        endpoint = self.options.aws_endpoint or os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            middleware = None
            if self.options.persist:
                self.store = self._restore_store()
                middleware = self.store.middleware
            self.moto = MotoServer(verbose=self.options.verbose, middleware=middleware).start()
            endpoint = self.moto.endpoint
        self.aws_endpoint = endpoint
        _aws_env(endpoint)
        resources = bootstrap(
            aws_client("dynamodb"),
            aws_client("kms"),
            aws_client("events"),
            table_name=self.options.table_name,
            bus_name=self.options.bus_name,
        )
        queues = ensure_work_queue(aws_client("sqs")) if self.options.work_queue else None
        providers_files = [p for p in (self._fake_google_providers(), self.options.providers_file) if p]
        env = {
            "TABLE_NAME": resources.table_name,
            "KMS_KEY_ID": resources.key_id,
            "EVENT_BUS_NAME": resources.bus_name,
            "JWT_ISSUER": devidp.DEV_ISSUER,
            "JWT_AUDIENCE": devidp.DEV_AUDIENCE,
            "JWKS_URL": f"{self.base_url}/dev-idp/jwks.json",
            "PUBLIC_BASE_URL": self.base_url,
            "ALLOW_LOOPBACK_URLS": "true",
            "BROKER_PROVIDERS_FILE": os.pathsep.join(providers_files),
            "REFRESH_FUNCTION_NAME": "oauth-broker-refresh",
            "REFRESH_QUEUE_URL": queues.queue_url if queues else "",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "OAuthBroker",
            "POWERTOOLS_SERVICE_NAME": "oauth-broker",
            "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "false"),
            **self.options.extra_env,
        }
        self.function_env = {k: v for k, v in env.items() if v}
        os.environ.update(self.function_env)
        self._configure_services()
        if self.store is not None:
            if self.fake_google is not None:
                self.store.add_extra(_fake_google_state(self.fake_google))
            self.store.start()
        if queues is not None:
            from oauth_broker_dev import lambda_runtime
            from oauth_broker_dev.sqs_poller import LocalEventSourceMapping

            self.queue_mapping = LocalEventSourceMapping(
                aws_client("sqs"),  # the Lambda service's client, not the functions'
                queues.queue_url,
                queues.queue_arn,
                lambda event: lambda_runtime.invoke("refresh", event),
                batch_size=int(parameter_default("RefreshQueueBatchSize")),
                max_concurrency=self.options.queue_pollers,
            ).start()

    def _restore_store(self) -> LocalStore:
        store = LocalStore(self.state_dir / STORE_FILE)
        try:
            store.restore()
        except SnapshotUnreadable as exc:
            aside = store.set_aside()
            print(
                f"oauth-broker: the saved local data could not be loaded ({exc}); starting empty "
                f"(the old file is kept as {aside})",
                file=sys.stderr,
                flush=True,
            )
        return store

    def _configure_services(self) -> None:
        from oauth_broker import config, services
        from oauth_broker.events.webhooks import LocalEventBridge
        from oauth_broker_dev import lambda_runtime

        config.load_config.cache_clear()
        # The bus -> webhook rule, locally: each published event reaches the webhook function
        # in a background thread, as EventBridge invokes it asynchronously in AWS.
        self.event_bridge = LocalEventBridge(lambda event: lambda_runtime.invoke("webhook", event))
        services.configure(
            services.Services(
                config.load_config(),
                invoke_refresh=lambda payload: lambda_runtime.invoke("refresh", payload),
                event_listeners=[self.event_bridge],
            )
        )

    def _fake_google_providers(self) -> str | None:
        """A providers file that points Google's endpoints at the built-in fake (unless real Google)."""
        if not self.options.fake_google:
            return None
        from oauth_broker_dev.fake_google.local import providers_override, start_for_local

        self.fake_google = start_for_local(f"{self.base_url}/fake-google")
        path = self.state_dir / f"providers.fake-google.{self.port}.json"
        path.write_text(json.dumps(providers_override(f"{self.base_url}/fake-google"), indent=2))
        self._providers_path = path
        return str(path)

    # -- WSGI ------------------------------------------------------------------------------
    def _misc_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        resp: Response
        if req.path == "/dev-idp/jwks.json":
            resp = Response(json.dumps(devidp.jwks()), content_type="application/json")
        elif req.path == "/_local/runtime.json":
            resp = self._runtime(req)
        elif req.path == "/dev-idp/token":
            resp = self._dev_token(req)
        elif req.path in ("/docs", "/docs/"):
            resp = Response(SWAGGER_PAGE, content_type="text/html")
        elif req.path.startswith("/docs/"):
            resp = self._swagger_file(req.path.removeprefix("/docs/"))
        elif req.path == DEMO_WEBHOOK_PREFIX or req.path.startswith(DEMO_WEBHOOK_PREFIX + "/"):
            resp = self.demo_webhooks(req)
        elif req.path == "/demo/gmail-push-settings":
            resp = self._gmail_push_settings(req)
        elif req.path in ("/", "/demo"):
            resp = Response(status=302, headers={"Location": "/demo/"})
        elif req.path.startswith("/demo/"):
            resp = self._static(req.path.removeprefix("/demo/") or "index.html")
        else:
            assert self.api is not None
            return self.api(environ, start_response)
        return resp(environ, start_response)

    def _dev_token(self, req: Request) -> Response:
        """POST {tenant, user, admin} -> {token}: the demo page's sign-in (local runtime only).

        JSON only, same-origin only and on a loopback Host only, so another site open in the
        browser cannot mint tokens (a cross-origin JSON POST needs a CORS preflight, which this
        never grants; a DNS-rebound name is not a loopback Host)."""

        def problem(status: int, detail: str) -> Response:
            body = {"type": "about:blank", "title": "Bad request", "status": status, "detail": detail}
            body["code"] = "validation_error" if status == 422 else "bad_request"
            return Response(json.dumps(body), status=status, content_type="application/problem+json")

        if req.method != "POST":
            return Response(status=405, headers={"Allow": "POST"})
        host = req.host.rsplit(":", 1)[0] if not req.host.endswith("]") else req.host
        origin = req.headers.get("Origin")
        if host.strip("[]") not in ("127.0.0.1", "localhost", "::1") or (
            origin is not None and origin != f"{req.scheme}://{req.host}"
        ):
            return problem(400, "dev tokens are only issued to pages served by this broker")
        if req.mimetype != "application/json":
            return problem(400, "send a JSON body: {tenant, user, admin}")
        data = req.get_json(silent=True)
        tenant = data.get("tenant") if isinstance(data, dict) else None
        user = data.get("user") if isinstance(data, dict) else None
        admin = data.get("admin", False) if isinstance(data, dict) else None
        if not all(isinstance(v, str) and 0 < len(v) <= 128 for v in (tenant, user)) or not isinstance(
            admin, bool
        ):
            return problem(422, "tenant and user must be 1-128 character strings, admin a boolean")
        token = devidp.mint(str(tenant), str(user), admin=admin)
        return Response(
            json.dumps({"token": token}),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    def _runtime(self, req: Request) -> Response:
        """The functions' environment, so `oauth-broker invoke` runs against this broker's AWS and
        data. Loopback Host only (no DNS-rebound name); nothing in it is a secret."""
        if req.host.rsplit(":", 1)[0].strip("[]") not in ("127.0.0.1", "localhost", "::1"):
            return Response("not found", status=404)
        env = {**self.function_env, "AWS_ENDPOINT_URL": self.aws_endpoint or ""}
        return Response(
            json.dumps({"base_url": self.base_url, "pid": os.getpid(), "environment": env}),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    def _gmail_push_settings(self, req: Request) -> Response:
        """GET -> the tenant setting `gmail_push` that matches the fake Google's Pub/Sub topic and
        push subscription (to this broker's POST /v1/google/gmail-push), or 404 without a fake
        Google. Loopback Host only; nothing in it is a secret."""
        if req.method != "GET":
            return Response(status=405, headers={"Allow": "GET"})
        if req.host.rsplit(":", 1)[0].strip("[]") not in ("127.0.0.1", "localhost", "::1"):
            return Response("not found", status=404)
        settings = None
        if self.fake_google is not None:
            from oauth_broker_dev.fake_google.local import gmail_push_settings

            settings = gmail_push_settings(self.fake_google)
        if settings is None:
            body = {
                "type": "about:blank",
                "title": "Not found",
                "status": 404,
                "code": "not_found",
                "detail": "no fake Google Pub/Sub here: with real Google, set gmail_push from your own topic",
            }
            return Response(json.dumps(body), status=404, content_type="application/problem+json")
        return Response(
            json.dumps({"gmail_push": settings}),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    @staticmethod
    def _swagger_file(name: str) -> Response:
        if name not in SWAGGER_FILES:
            return Response("not found", status=404)
        return Response(
            (swagger_ui_dir() / name).read_bytes(),
            content_type=SWAGGER_FILES[name],
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @staticmethod
    def _static(name: str) -> Response:
        path = (STATIC_DIR / name).resolve()
        if not path.is_file() or STATIC_DIR.resolve() not in path.parents:
            return Response("not found", status=404)
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
        return Response(path.read_bytes(), content_type=types.get(path.suffix, "application/octet-stream"))

    def wsgi_app(self) -> Any:
        from oauth_broker_dev import lambda_runtime

        self.api = LocalHttpApi(lambda_runtime.invoke, domain=f"127.0.0.1:{self.port}")
        mounts: dict[str, Any] = {}
        if self.fake_google is not None:
            mounts["/fake-google"] = self._marking_writes(self.fake_google.app)
        return DispatcherMiddleware(self._misc_app, mounts)

    def _marking_writes(self, app: Any) -> Any:
        """The fake Google's app, marking the local store dirty after each request (a consent or a
        token request changes the grants the store keeps)."""
        store = self.store
        if store is None:
            return app

        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            try:
                return app(environ, start_response)
            finally:
                store.mark_dirty()

        return wrapped

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalBroker:
        self._prepare()
        self._server = make_server("127.0.0.1", self.port, self.wsgi_app(), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-broker", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Serve until interrupted; `ready` runs once the port is bound and the broker is set up."""
        try:
            self._prepare()
            self._server = make_server("127.0.0.1", self.port, self.wsgi_app(), threaded=True)
            if ready is not None:
                ready()
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        if self.fake_google is not None:
            self.fake_google.close()  # its Pub/Sub push worker: no push reaches a stopping broker
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.queue_mapping is not None:
            self.queue_mapping.stop()
            self.queue_mapping = None
        if self.store is not None:
            self.store.stop()  # the last save, once no request can come in
            self.store = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self._providers_path is not None:
            self._providers_path.unlink(missing_ok=True)
            self._providers_path = None
        from oauth_broker import services

        services.configure(None)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
