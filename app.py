"""The application factory: settings, the wired services, the blueprints, the CLI."""
from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import bootstrap
import cli
from blueprints import limits, register_blueprints
from blueprints.hot import HotPaths
from config import PREFIX, SettingsError, load_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service: defaults, then HEALTHCODE_* environment variables, then `config`.

    Started by a server or the CLI (no `config`), a setting that is wrong stops start-up with
    one line naming the variable; tests get the SettingsError.
    """
    app = Flask(__name__, instance_relative_config=True)
    try:
        settings = load_settings(config)
        services, runtime = bootstrap.build(settings, Path(app.instance_path))
    except SettingsError as exc:
        if config is not None:
            raise
        print(f"healthcode: {exc}", file=sys.stderr)
        raise SystemExit(3) from None  # the server stops (granian, gunicorn): no endless respawn of workers
    app.config.update({k: v for k, v in (config or {}).items() if not k.startswith(PREFIX)})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    logging.basicConfig(level=settings.log_level)
    app.extensions["healthcode"] = services
    app.extensions["healthcode.runtime"] = runtime
    bootstrap.open_store(services, runtime)
    register_blueprints(app, services)
    limits.install(app, settings, *bootstrap.limiter_storage(settings, runtime.store.client))
    if settings.fast_paths:
        app.wsgi_app = HotPaths(app, services, app.extensions["healthcode.bearer_failures"],  # type: ignore[method-assign]
                                app.wsgi_app, app.extensions["healthcode.scan_limit"])
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    cli.register(app, services)
    return app
