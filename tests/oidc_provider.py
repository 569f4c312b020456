"""A real OpenID Connect provider for the tests, run in its own process on loopback:
oidc-provider-mock (Authlib's authorization server on Flask) with discovery, JWKS,
authorization-code flow with nonce, userinfo, and RP-initiated logout.

    python -m tests.oidc_provider --port 0 [--kid none|jwks|header] [--wrong-key]

prints ``listening <port>`` once it accepts connections. ``--kid`` says where the key id
appears: ``none`` (a key set of one key without ``kid``, id tokens naming none, as some
institutes' providers do), ``jwks`` (the key set names it, the tokens do not: the mock's own
behaviour), ``header`` (both). ``--wrong-key`` publishes a key set whose one key is not
the signing key (a forged or stale set: the client must refuse the tokens). Users and their
claims are set by ``PUT /users/<sub>`` (a JSON object of claims); the log-in page asks for the
subject. The page's stylesheet link to a CDN is dropped so that a browser test stays on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from typing import Any

import flask
import oidc_provider_mock
from authlib.jose import RSAKey
from oidc_provider_mock import _app, _storage
from werkzeug.serving import make_server


class NoKidRSAKey(RSAKey):  # type: ignore[misc]
    """An RSA key that never names itself: no ``kid`` in the key set nor in token headers."""

    def as_dict(self, is_private: bool = False, **params: Any) -> dict[str, Any]:
        data: dict[str, Any] = super().as_dict(is_private, **params)
        data.pop("kid", None)
        return data


def _name_the_key_in_tokens() -> None:
    original = _app.OpenIDCode.get_jwt_config

    def config(self: Any, grant: Any, client: Any = None) -> dict[str, Any]:
        values: dict[str, Any] = original(self, grant, client)
        return {**values, "kid": values["key"]["kid"]}

    _app.OpenIDCode.get_jwt_config = config  # type: ignore[method-assign]


def _use_keys_without_kid() -> None:
    original = _storage.Storage.__init__

    def init(self: Any) -> None:
        original(self)
        self.jwk = NoKidRSAKey.generate_key(is_private=True)

    _storage.Storage.__init__ = init  # type: ignore[method-assign]


_CDN_LINK = re.compile(rb"<link[^>]*https://cdn[^>]*>", re.S)


def _offline_pages(response: flask.Response) -> flask.Response:
    if response.mimetype == "text/html" and not response.direct_passthrough:
        response.set_data(_CDN_LINK.sub(b"", response.get_data()))
    return response


def _publish_another_key(app: flask.Flask) -> None:
    other = NoKidRSAKey.generate_key(is_private=True)
    public = {k: v for k, v in other.as_dict().items() if k in ("kty", "n", "e")}

    @app.after_request
    def wrong_key_set(response: flask.Response) -> flask.Response:
        if flask.request.path == "/jwks":
            response.set_data(json.dumps({"keys": [public]}))
        return response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kid", choices=["none", "jwks", "header"], default="jwks")
    parser.add_argument("--wrong-key", action="store_true")
    options = parser.parse_args()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on loopback
    if options.kid == "none":
        _use_keys_without_kid()
    elif options.kid == "header":
        _name_the_key_in_tokens()
    app = oidc_provider_mock.app(require_nonce=True)
    app.after_request(_offline_pages)
    if options.wrong_key:
        _publish_another_key(app)
    server = make_server("127.0.0.1", options.port, app, threaded=True)
    print(f"listening {server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
