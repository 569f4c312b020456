"""Settings for dssportal, read from the environment only (see README.md and .env.example).

A ``.env`` file in the project root, when present, supplies defaults for variables that are not
already set in the real environment (``make`` writes one for local development).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from dssportal.infra.env import (
    env_bool,
    env_email,
    env_float,
    env_int,
    env_list,
    env_path,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env", override=False)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY (or SECRET_KEY_FILE), "
            "or DEBUG=1 for local development; see .env.example."
        )
    SECRET_KEY = "dssportal-insecure-development-key-not-for-production"
# Earlier keys after a change of SECRET_KEY: sessions, password-reset and confirmation links
# signed with them stay valid (django-q's tasks are signed with SECRET_KEY alone).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
# How often a running qcluster checks that its key is still the site's (seconds).
DSSPORTAL_SIGNING_KEY_RECHECK_S = env_float("DSSPORTAL_SIGNING_KEY_RECHECK_S", 30.0, minimum=1.0)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Data directories -------------------------------------------------------------------------
DATA_DIR = env_path("DSSPORTAL_DATA_DIR", BASE_DIR / "var")
PLATES_DIR = DATA_DIR / "plates"
# Read plates over HTTP from this base URL (the plates folder served read-only) instead of
# PLATES_DIR: worker hosts without the shared folder. Empty: read PLATES_DIR.
DSSPORTAL_PLATES_URL = env_str("DSSPORTAL_PLATES_URL", "").rstrip("/")
if DSSPORTAL_PLATES_URL and not DSSPORTAL_PLATES_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"DSSPORTAL_PLATES_URL={DSSPORTAL_PLATES_URL!r} is not an http:// or https:// URL."
    )
STAGING_DIR = DATA_DIR / "staging"
OUTBOX_DIR = DATA_DIR / "outbox"
PREVIEWS_DIR = DATA_DIR / "previews"
# Zips of staging directories built for nginx to send (DSSPORTAL_ACCEL_REDIRECT); rebuilt when
# the directory changes, removed with it.
ZIP_CACHE_DIR = DATA_DIR / "zips"

# --- Service policy -----------------------------------------------------------------------------
DSSPORTAL_REQUEST_ADDRESS = env_email("DSSPORTAL_REQUEST_ADDRESS", "dss-request@localhost")
DSSPORTAL_DELETE_ADDRESS = env_email("DSSPORTAL_DELETE_ADDRESS", "dss-delete@localhost")
DSSPORTAL_STAGING_DAYS = env_int("DSSPORTAL_STAGING_DAYS", 10, minimum=1)
DSSPORTAL_DEFAULT_QUOTA_MB = env_int("DSSPORTAL_DEFAULT_QUOTA_MB", 500, minimum=0)
DSSPORTAL_MAX_FIELD_ARCMIN = env_float("DSSPORTAL_MAX_FIELD_ARCMIN", 60.0, minimum=0.1)
DSSPORTAL_MAX_REQUEST_LINES = env_int("DSSPORTAL_MAX_REQUEST_LINES", 2000, minimum=1)
DSSPORTAL_MAX_MAIL_BYTES = env_int("DSSPORTAL_MAX_MAIL_BYTES", 1_000_000, minimum=1024)
# Forged From: the authserv-id of the Authentication-Results header the site's own MTA adds
# (empty: none is trusted); what happens to mail whose From domain fails SPF/DKIM/DMARC
# (hold: recorded, not acted on, not answered; refuse: the same, and LMTP answers 550;
# accept); whether deletion lists act on mail that did not pass (any) or only reply with
# links the owner confirms on the web (authenticated).
DSSPORTAL_MAIL_AUTHSERV_ID = env_str("DSSPORTAL_MAIL_AUTHSERV_ID", "").lower()
DSSPORTAL_MAIL_AUTH_FAILURE = env_str("DSSPORTAL_MAIL_AUTH_FAILURE", "hold").lower()
if DSSPORTAL_MAIL_AUTH_FAILURE not in ("hold", "refuse", "accept"):
    raise ImproperlyConfigured(
        f"DSSPORTAL_MAIL_AUTH_FAILURE={DSSPORTAL_MAIL_AUTH_FAILURE!r}: use hold, refuse or accept."
    )
DSSPORTAL_MAIL_DELETION = env_str("DSSPORTAL_MAIL_DELETION", "authenticated").lower()
if DSSPORTAL_MAIL_DELETION not in ("authenticated", "any"):
    raise ImproperlyConfigured(
        f"DSSPORTAL_MAIL_DELETION={DSSPORTAL_MAIL_DELETION!r}: use authenticated or any."
    )
# Messages of one registered sender acted on an hour, and replies to one address an hour.
DSSPORTAL_MAIL_PER_SENDER_PER_HOUR = env_int("DSSPORTAL_MAIL_PER_SENDER_PER_HOUR", 30, minimum=1)
DSSPORTAL_MAIL_REPLIES_PER_ADDRESS_PER_HOUR = env_int(
    "DSSPORTAL_MAIL_REPLIES_PER_ADDRESS_PER_HOUR", 30, minimum=1
)
# Messages the LMTP listener (runlmtp) handles at once, each in its own thread.
DSSPORTAL_LMTP_THREADS = env_int("DSSPORTAL_LMTP_THREADS", 4, minimum=1)
# The largest request body read (uploads, API bodies): a larger one is refused from its
# Content-Length before anything is read or spooled to disk. Django's own in-memory limits
# (DATA_UPLOAD_MAX_MEMORY_SIZE, FILE_UPLOAD_MAX_MEMORY_SIZE) follow it.
DSSPORTAL_MAX_REQUEST_BODY_BYTES = env_int(
    "DSSPORTAL_MAX_REQUEST_BODY_BYTES", 2 * DSSPORTAL_MAX_MAIL_BYTES + 100_000, minimum=1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = DSSPORTAL_MAX_REQUEST_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = DSSPORTAL_MAX_REQUEST_BODY_BYTES
# Rejected lines quoted one by one in a reply, a page or an API answer; the rest are counted.
DSSPORTAL_MAX_LISTED_ERRORS = env_int("DSSPORTAL_MAX_LISTED_ERRORS", 50, minimum=1)
# Object names: offline catalogues always; CDS Sesame after them only when allowed.
DSSPORTAL_RESOLVER_ONLINE = env_bool("DSSPORTAL_RESOLVER_ONLINE", False)
DSSPORTAL_RESOLVER_SESAME_URL = env_str(
    "DSSPORTAL_RESOLVER_SESAME_URL", "https://cds.unistra.fr/cgi-bin/nph-sesame"
)
DSSPORTAL_RESOLVER_TIMEOUT_S = env_float("DSSPORTAL_RESOLVER_TIMEOUT_S", 3.0, minimum=0.1)
DSSPORTAL_RESOLVER_CACHE_DAYS = env_int("DSSPORTAL_RESOLVER_CACHE_DAYS", 30, minimum=1)
# Synchronous cut-outs (GET /api/cutout): largest side, per-user bytes per UTC day, per minute.
DSSPORTAL_CUTOUT_MAX_ARCMIN = env_float("DSSPORTAL_CUTOUT_MAX_ARCMIN", 30.0, minimum=0.1)
DSSPORTAL_CUTOUT_DAILY_MB = env_int("DSSPORTAL_CUTOUT_DAILY_MB", 200, minimum=0)
DSSPORTAL_CUTOUT_PER_MINUTE = env_int("DSSPORTAL_CUTOUT_PER_MINUTE", 30, minimum=1)
# The internal nginx location prefix (e.g. "/_accel/") under which nginx sends staged files
# (<prefix>staging/...) and built zips (<prefix>zips/...) itself: the app only checks who may
# read them and answers with X-Accel-Redirect. Empty (the default, as under `make run`): the
# app sends the bytes itself.
DSSPORTAL_ACCEL_REDIRECT = env_str("DSSPORTAL_ACCEL_REDIRECT", "")
# Where the portal last ran on this data directory (runportal and serveportal write it): the
# public URL of the processes started beside it by hand, such as ingest_mail from a shell.
DSSPORTAL_PORTAL_URL_FILE = DATA_DIR / "portal-url"
DSSPORTAL_PUBLIC_URL = env_str(
    "DSSPORTAL_PUBLIC_URL",
    (DSSPORTAL_PORTAL_URL_FILE.read_text().strip() if DSSPORTAL_PORTAL_URL_FILE.is_file() else "")
    or "http://127.0.0.1:8000",
).rstrip("/")
# IVOA services (extraction/web/vo): anonymous SODA and old-URL cut-outs per client address,
# per minute and per UTC day (a token counts against its user's cut-out allowance instead);
# the naming authority of the plates' ivo:// identifiers (default: the public host name).
DSSPORTAL_ANON_CUTOUT_PER_MINUTE = env_int("DSSPORTAL_ANON_CUTOUT_PER_MINUTE", 10, minimum=0)
DSSPORTAL_ANON_CUTOUT_PER_DAY = env_int("DSSPORTAL_ANON_CUTOUT_PER_DAY", 300, minimum=0)
DSSPORTAL_IVO_AUTHORITY = env_str(
    "DSSPORTAL_IVO_AUTHORITY", DSSPORTAL_PUBLIC_URL.split("://", 1)[-1].split("/")[0].split(":")[0]
)
DSSPORTAL_TASKS_SYNC = env_bool("DSSPORTAL_TASKS_SYNC", False)
# Fields handed to one task in a large request (fewer queue round trips); 1: one task per field.
DSSPORTAL_FIELDS_PER_TASK = env_int("DSSPORTAL_FIELDS_PER_TASK", 16, minimum=1)
# How often each worker process looks for fields a dead worker or cluster had taken; 0: never.
DSSPORTAL_SWEEP_SECONDS = env_float("DSSPORTAL_SWEEP_SECONDS", 5.0, minimum=0.0)

# --- Abuse limits (accounts/throttle.py) ---------------------------------------------------------
# Reverse proxies in front of the web server that append to X-Forwarded-For (0: none, use
# REMOTE_ADDR). Log-in and registration limits count per client address, so this must be right.
DSSPORTAL_TRUSTED_PROXIES = env_int("DSSPORTAL_TRUSTED_PROXIES", 0, minimum=0)
DSSPORTAL_LOGIN_FREE_FAILURES_PER_ACCOUNT = env_int(
    "DSSPORTAL_LOGIN_FREE_FAILURES_PER_ACCOUNT", 5, minimum=1
)
DSSPORTAL_LOGIN_FREE_FAILURES_PER_ADDRESS = env_int(
    "DSSPORTAL_LOGIN_FREE_FAILURES_PER_ADDRESS", 20, minimum=1
)
DSSPORTAL_LOGIN_MAX_DELAY_S = env_int("DSSPORTAL_LOGIN_MAX_DELAY_S", 900, minimum=1)
DSSPORTAL_REGISTRATIONS_PER_ADDRESS_PER_HOUR = env_int(
    "DSSPORTAL_REGISTRATIONS_PER_ADDRESS_PER_HOUR", 5, minimum=1
)
DSSPORTAL_REGISTRATIONS_PER_HOUR = env_int("DSSPORTAL_REGISTRATIONS_PER_HOUR", 60, minimum=1)
DSSPORTAL_UNCONFIRMED_ADDRESSES_PER_USER = env_int(
    "DSSPORTAL_UNCONFIRMED_ADDRESSES_PER_USER", 3, minimum=1
)
DSSPORTAL_MAILS_PER_RECIPIENT_PER_DAY = env_int(
    "DSSPORTAL_MAILS_PER_RECIPIENT_PER_DAY", 5, minimum=1
)

# --- FTP ----------------------------------------------------------------------------------------
DSSPORTAL_FTP_HOST = env_str("DSSPORTAL_FTP_HOST", "127.0.0.1")
DSSPORTAL_FTP_PORT = env_int("DSSPORTAL_FTP_PORT", 2121, minimum=1)
DSSPORTAL_FTP_PUBLIC_URL = env_str(
    "DSSPORTAL_FTP_PUBLIC_URL", f"ftp://{DSSPORTAL_FTP_HOST}:{DSSPORTAL_FTP_PORT}"
).rstrip("/")
DSSPORTAL_FTP_PASSIVE_PORTS = env_str("DSSPORTAL_FTP_PASSIVE_PORTS", "")  # e.g. "60000-60100"
DSSPORTAL_FTP_MASQUERADE_ADDRESS = env_str("DSSPORTAL_FTP_MASQUERADE_ADDRESS", "")
DSSPORTAL_FTP_TLS_CERTFILE = env_str("DSSPORTAL_FTP_TLS_CERTFILE", "")
DSSPORTAL_FTP_TLS_KEYFILE = env_str("DSSPORTAL_FTP_TLS_KEYFILE", "")
DSSPORTAL_FTP_MAX_CONNECTIONS = env_int("DSSPORTAL_FTP_MAX_CONNECTIONS", 256, minimum=1)
DSSPORTAL_FTP_MAX_CONNECTIONS_PER_ADDRESS = env_int(
    "DSSPORTAL_FTP_MAX_CONNECTIONS_PER_ADDRESS", 10, minimum=1
)
# Connections that have not logged in yet: how many per address and in all, and for how long.
DSSPORTAL_FTP_MAX_PENDING_LOGINS_PER_ADDRESS = env_int(
    "DSSPORTAL_FTP_MAX_PENDING_LOGINS_PER_ADDRESS", 3, minimum=1
)
DSSPORTAL_FTP_MAX_PENDING_LOGINS = env_int("DSSPORTAL_FTP_MAX_PENDING_LOGINS", 64, minimum=1)
DSSPORTAL_FTP_LOGIN_TIMEOUT_S = env_int("DSSPORTAL_FTP_LOGIN_TIMEOUT_S", 20, minimum=1)

# --- Django ------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before django_q: dssportal's qcluster command (stops promptly on SIGTERM) replaces its own.
    "dssportal",
    "django_q",
    "accounts",
    "extraction",
]

MIDDLEWARE = [
    "dssportal.errors.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginThrottledMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dssportal.urls"
WSGI_APPLICATION = "dssportal.wsgi.application"
ASGI_APPLICATION = "dssportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # The mails' loader first: it trims the tag-only lines of templates/emails/.
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    [
                        "dssportal.infra.emails.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dssportal.context_processors.service",
            ],
        },
    },
]


def _database_config() -> dict[str, object]:
    url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'dssportal.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} cannot be parsed: {exc}") from exc
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no database engine Django knows.")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = str(config.get("NAME") or "")
        if name and name != ":memory:" and not name.startswith("file:"):
            # SQLite creates the file but not its folder; a fresh checkout has no var/ yet.
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        # Web, worker and mail gate share one SQLite file: wait for locks instead of failing.
        # WAL lets the web pages read while a worker writes; synchronous=NORMAL is durable
        # across application crashes (only a power cut may lose the last commits).
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return dict(config)


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# ``make install`` (and so ``make run``/``serve``/``test`` and CI) runs ``collectstatic``, which
# writes hashed, compressed copies and their manifest into STATIC_ROOT. Until it has run,
# WhiteNoise serves the source files through the finders and pages link the plain names
# (dssportal.infra.staticstorage), so ``DEBUG=0`` still works; ``manage.py check`` warns.
STATIC_MANIFEST = STATIC_ROOT / "staticfiles.json"
WHITENOISE_USE_FINDERS = DEBUG or not STATIC_MANIFEST.exists()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "dssportal.infra.staticstorage.ManifestOrSourceStaticFilesStorage"
        )
    },
}

# --- Behind a TLS-terminating proxy (deploy/nginx) ---------------------------------------------
# Set these in production; ``manage.py check --deploy`` is clean when they are (README).
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# The header the proxy sets to "https" on requests that arrived over TLS, e.g. X-Forwarded-Proto.
# Only name it when the proxy always sets (or strips) it: a client could otherwise forge it.
_PROXY_SSL_HEADER = env_str("SECURE_PROXY_SSL_HEADER")
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
# /healthz answers the proxy's and the load balancer's plain-HTTP probes without a redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Mail ---------------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "dssportal.infra.outbox.OutboxEmailBackend"
)
DEFAULT_FROM_EMAIL = env_email("DEFAULT_FROM_EMAIL", DSSPORTAL_REQUEST_ADDRESS)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Task queue (django-q2) ---------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
Q_CLUSTER: dict[str, object] = {
    "name": "dssportal",
    "workers": env_int("DSSPORTAL_WORKERS", 2, minimum=1),
    # A cut-out takes well under a second; five minutes means something is stuck. ``retry``
    # must exceed ``timeout`` or a slow task would be handed to a second worker while running.
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    # Successful tasks are not stored: every field's outcome is on its Field row already, and
    # writing a Success row per field costs the pipeline a database write. Failures are always
    # kept (django-q stores a task that raised whatever save_limit says): a failed field makes
    # its task raise (extraction.tasks.FieldFailed), so the admin's "Failed tasks" lists it.
    "save_limit": -1,
    "poll": 0.05,  # ORM broker: how often an idle cluster looks for new work (seconds)
    "label": "Task queue",
    "sync": DSSPORTAL_TASKS_SYNC,
}
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} is not a redis:// URL.")
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
}

AUTHENTICATION_BACKENDS = ["accounts.backends.UsernameOrEmailBackend"]

# --- Sign-in through the institute's OpenID Connect provider (accounts/oidc.py) -----------------
# No issuer: no single sign-on, local accounts only. Endpoints and keys are read from
# <issuer>/.well-known/openid-configuration; the portal's redirect URI is
# <DSSPORTAL_PUBLIC_URL>/oidc/callback/.
DSSPORTAL_OIDC_ISSUER = env_str("DSSPORTAL_OIDC_ISSUER").rstrip("/")
DSSPORTAL_OIDC_CLIENT_ID = env_str("DSSPORTAL_OIDC_CLIENT_ID")
DSSPORTAL_OIDC_CLIENT_SECRET = env_str("DSSPORTAL_OIDC_CLIENT_SECRET")
DSSPORTAL_OIDC_LABEL = env_str("DSSPORTAL_OIDC_LABEL", "your institute")
DSSPORTAL_OIDC_SCOPES = env_str("DSSPORTAL_OIDC_SCOPES", "openid email profile")
# Claims that give a new user's name (full name; given_name/family_name are used when present)
# and affiliation (empty: not read).
DSSPORTAL_OIDC_NAME_CLAIM = env_str("DSSPORTAL_OIDC_NAME_CLAIM", "name")
DSSPORTAL_OIDC_AFFILIATION_CLAIM = env_str("DSSPORTAL_OIDC_AFFILIATION_CLAIM")
DSSPORTAL_OIDC_TIMEOUT_S = env_float("DSSPORTAL_OIDC_TIMEOUT_S", 10.0, minimum=0.1)
if DSSPORTAL_OIDC_ISSUER and not DSSPORTAL_OIDC_ISSUER.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        f"DSSPORTAL_OIDC_ISSUER={DSSPORTAL_OIDC_ISSUER!r} is not an https:// URL (the provider's "
        "issuer, as its /.well-known/openid-configuration names it)."
    )
if DSSPORTAL_OIDC_ISSUER and not (DSSPORTAL_OIDC_CLIENT_ID and DSSPORTAL_OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "DSSPORTAL_OIDC_ISSUER is set: DSSPORTAL_OIDC_CLIENT_ID and DSSPORTAL_OIDC_CLIENT_SECRET "
        "are required too (from registering the portal at the provider; see README)."
    )
if DSSPORTAL_OIDC_ISSUER and "openid" not in DSSPORTAL_OIDC_SCOPES.split():
    raise ImproperlyConfigured(
        f"DSSPORTAL_OIDC_SCOPES={DSSPORTAL_OIDC_SCOPES!r} must contain 'openid'."
    )
