"""Django settings. Every outside value comes from ``config.env`` (read once, validated)."""

import os
from datetime import timedelta
from pathlib import Path

from config.env import BASE_DIR, load_or_exit

ENV = load_or_exit(os.environ)

DEBUG = ENV.debug
SECRET_KEY = ENV.secret_key
ALLOWED_HOSTS = list(ENV.allowed_hosts)
VAULT_KEYS = ENV.vault_keys

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "oauth2_provider",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The platform, one Django app per layer (see the design brief).
    "identity",
    "audit",
    "connections",
    "apps_registry",
    "consent",
    "broker",
    "access",
]

MIDDLEWARE = [
    # /api/v1/ takes API_MIDDLEWARE (below) instead of the rest of this list (config/api_dispatch.py).
    "config.api_dispatch.ApiDispatchMiddleware",
    "config.middleware.RequestIdMiddleware",
    "config.middleware.OutboundBudgetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "identity.middleware.StaffMFAMiddleware",
    "identity.middleware.PersonTimeZoneMiddleware",
]
# The broker API's chain: an app with a bearer token, never a session, CSRF cookie, signed-in
# person, message or time zone (the API's views read none). The same request id, outbound budget
# and security headers as the site; the API's error shape.
API_MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    # Under /api/v1/ every error is the API's JSON shape, debug page included (config/errors.py).
    "config.errors.ApiErrorMiddleware",
    "config.middleware.OutboundBudgetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
]
# The authorization server's token, revocation and introspection endpoints: a
# client authenticating itself, never a session (config/api_dispatch.py). The API's list without
# the API's error shape: these answer RFC 6749's errors themselves.
OAUTH_ENDPOINT_MIDDLEWARE = [m for m in API_MIDDLEWARE if m != "config.errors.ApiErrorMiddleware"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": ENV.database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# WhiteNoise warns when STATIC_ROOT is missing (before collectstatic); make sure it exists.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/access/"

# --- Cache and Celery: Redis when REDIS_URL is set, the embedded default otherwise ---------------
if ENV.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": ENV.redis_url,
        }
    }
    CELERY_BROKER_URL = ENV.redis_url
    CELERY_RESULT_BACKEND = ENV.redis_url
else:
    # Embedded default: no Redis needed. Celery's broker is kombu's filesystem transport, shared
    # by the web process and the one worker (which also runs beat, `-B`). Its folders live beside
    # the SQLite database (var/celery/ by default), so a second platform on another database file
    # (a test's) never reads this one's queue; kombu's exchange table ("control") goes there too.
    _embedded = (
        Path(ENV.database["NAME"]).parent
        if ENV.database["ENGINE"].endswith("sqlite3")
        else BASE_DIR / "var"
    ) / "celery"
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_embedded / "queue"),
        "data_folder_out": str(_embedded / "queue"),
        "processed_folder": str(_embedded / "processed"),
        "control_folder": str(_embedded / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = None
    for folder in ("queue", "processed", "control"):
        (_embedded / folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies mid-way is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict = {
    "worker-heartbeat": {"task": "identity.tasks.heartbeat", "schedule": 30.0},
}

# --- django-allauth ---------------------------------------------------------------------------
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "identity.adapters.AccountAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Agent Access Platform"
# TOTP secrets and recovery seeds encrypted with VAULT_KEYS (identity/secrets.py).
MFA_ADAPTER = "identity.adapters.MFAAdapter"
# Tokens are captured from the connect flow into the encrypted vault (connections/vault.py);
# allauth's own SocialToken table must never hold a plaintext copy.
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_PROVIDERS: dict = {}

EMAIL_BACKEND = (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = "Agent Access Platform <no-reply@localhost>"

# --- django-oauth-toolkit: the platform's own authorization server ---------------------------
# A swapped application model: one client may use authorization code *and* client credentials.
OAUTH2_PROVIDER_APPLICATION_MODEL = "apps_registry.OAuthClient"
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": ENV.access_token_lifetime_seconds,
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(timedelta(days=30).total_seconds()),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if DEBUG else ["https"],
    "SCOPES_BACKEND_CLASS": "consent.scopes_backend.CatalogScopes",
}
# --- apps_registry: the authorization server's rules (see apps_registry/oauth.py) -------------
OAUTH2_PROVIDER.update(
    {
        "OAUTH2_VALIDATOR_CLASS": "apps_registry.oauth.PlatformOAuth2Validator",
        # No implicit, no password grant: refused, and not advertised.
        "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
        "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
        # Access tokens only in the Authorization header, never in a URI (RFC 9700 4.3.2).
        "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
        "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
        "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
        "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
        # RFC 9207: the authorization response names its issuer (mix-up defence).
        "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
        # RFC 8414 metadata advertises only what is enforced.
        "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OAUTH2_GRANT_TYPES_SUPPORTED": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
        ],
        "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        # Client secrets are long random values: a fast keyed hash, not PBKDF2 (apps_registry/hashers.py).
        "CLIENT_SECRET_HASHER": "client_secret_hmac_sha256",
        # Token values: 256 bits from the OS in one call (apps_registry/oauth_tokens.py).
        "ACCESS_TOKEN_GENERATOR": "apps_registry.oauth_tokens.random_token",
        "REFRESH_TOKEN_GENERATOR": "apps_registry.oauth_tokens.random_token",
        # Clients that register themselves (MCP clients), see apps_registry/registration_views.py
        # and apps_registry/cimd.py. Open registration, hardened in front of the library.
        "DCR_ENABLED": ENV.oauth_dcr_enabled,
        "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
        "DCR_REGISTRATION_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
        "CIMD_ENABLED": ENV.oauth_cimd_enabled,
        "CIMD_METADATA_FETCHER": "apps_registry.cimd.PlatformMetadataFetcher",
        "CIMD_REGISTRATION_PERMISSION_CLASSES": (
            ("oauth2_provider.cimd.HostAllowlistCIMDPermission",)
            if ENV.oauth_cimd_allowed_hosts
            else ("oauth2_provider.cimd.AllowAllCIMDPermission",)
        ),
        "CIMD_ALLOWED_HOSTS": list(ENV.oauth_cimd_allowed_hosts),
        "CIMD_FETCH_TIMEOUT_SECONDS": 5,
        # The draft recommends about 5 KB; MCP clients' documents are far smaller.
        "CIMD_MAX_DOCUMENT_SIZE": 8 * 1024,
        "CIMD_FAILURE_BACKOFF_SECONDS": 60,
        "CIMD_MAX_CONCURRENT_FETCHES": 10,
    }
)
OAUTH_DCR_ALLOW_NON_LOOPBACK = ENV.oauth_dcr_allow_non_loopback
OAUTH_DCR_RATE_LIMIT_PER_HOUR = ENV.oauth_dcr_rate_limit_per_hour
# Only the test suite turns these on (its metadata documents come from a local https server).
OAUTH_CIMD_ALLOW_LOOPBACK = False
OAUTH_CIMD_CA_BUNDLE = ""
# Registered after the password hashers, so never the default for people's passwords.
PASSWORD_HASHERS = [*PASSWORD_HASHERS, "apps_registry.hashers.ClientSecretHasher"]
OAUTH_RATE_LIMIT_PER_CLIENT = ENV.oauth_rate_limit_per_client
OAUTH_RATE_LIMIT_PER_IP = ENV.oauth_rate_limit_per_ip
OAUTH_RATE_LIMIT_WINDOW_SECONDS = ENV.oauth_rate_limit_window_seconds
OAUTH_RATE_LIMIT_FAILED_AUTH = ENV.oauth_rate_limit_failed_auth
OAUTH_CLIENT_SECRET_GRACE = timedelta(hours=ENV.oauth_secret_grace_hours)
DEMO_AGENT_CLIENT_SECRET = ENV.demo_agent_client_secret
# Exchanged authorization codes are remembered (as checksums) to detect replays; forgotten daily
# once every token they could have issued is dead.
CELERY_BEAT_SCHEDULE["apps_registry-forget-used-codes"] = {
    "task": "apps_registry.tasks.forget_used_codes",
    "schedule": 24 * 60 * 60.0,
}
SESSION_GRANT_WINDOW = timedelta(minutes=ENV.session_grant_minutes)
# Checksums of tokens ended with their grant (for grant_revoked), forgotten once expired.
CELERY_BEAT_SCHEDULE["consent-forget-ended-grant-tokens"] = {
    "task": "consent.tasks.forget_ended_grant_tokens",
    "schedule": 60 * 60.0,
}
# The "while you were away" e-mail, for people who turned it on (each gets it daily or weekly).
CELERY_BEAT_SCHEDULE["access-digest-emails"] = {
    "task": "access.tasks.send_digest_emails",
    "schedule": 60 * 60.0,
}

# --- Django REST framework (the broker API) ---------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agent Access Platform broker API",
    "DESCRIPTION": "Apps call the platform; the platform calls the provider, checking every call.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's JavaScript comes from our static files: the CSP allows no CDN.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Providers (connections) ------------------------------------------------------------------
PROVIDER_URLS = ENV.provider_urls
PROVIDER_CREDENTIALS = ENV.provider_credentials
# Generic OAuth 2.0 / OIDC providers added as data (PROVIDERS_FILE), after CONNECTION_PROVIDERS.
GENERIC_PROVIDERS = ENV.generic_providers
SANDBOX_ENABLED = ENV.sandbox_enabled

# --- connections ------------------------------------------------------------------------------
# The provider registry, explicitly: each entry is a declaration in connections.providers.
CONNECTION_PROVIDERS = [
    "connections.providers.GITHUB",
    "connections.providers.SLACK",
    "connections.providers.GOOGLE",
    "connections.providers.SANDBOX_GITHUB",
    "connections.providers.SANDBOX_SLACK",
    "connections.providers.SANDBOX_GOOGLE",
]
# Where the platform reaches its own sandbox (over real HTTP); tests use live_server.url.
SANDBOX_BASE_URL = ENV.sandbox_base_url
SANDBOX_ACCESS_TOKEN_SECONDS = ENV.sandbox_token_lifetime_seconds
SOCIALACCOUNT_ADAPTER = "connections.adapters.SocialAccountAdapter"
# PKCE and every other dialect detail come from the provider declarations
# (connections.providers), not from allauth's per-provider settings.
SOCIALACCOUNT_PROVIDERS = {}
# Refresh: the sweep refreshes tokens expiring within this margin; failures back off.
CONNECTION_REFRESH_MARGIN_SECONDS = ENV.connection_refresh_margin_seconds
CONNECTION_REFRESH_TIMEOUT_SECONDS = 10
# Every call to a provider goes through connections.outbound: pooled, pinned to the provider's
# hosts, no redirects, no proxy from the environment, bounded in time and size, retried
# (idempotent only) with backoff.
OUTBOUND_POOL_SIZE = 20
OUTBOUND_CONNECT_TIMEOUT = 3.05
OUTBOUND_READ_TIMEOUT = 20.0
OUTBOUND_TOTAL_TIMEOUT = 30.0
OUTBOUND_RETRIES = 2
OUTBOUND_BACKOFF = 0.2
OUTBOUND_MAX_BYTES = 10 * 1024 * 1024
# run (issue 11): inside a web request every provider call shares one deadline, and one process
# sends at most this many requests at once to one provider host (connections/outbound.py).
BROKER_CALL_DEADLINE_SECONDS = ENV.broker_call_deadline_seconds
BROKER_PROVIDER_CONCURRENCY = ENV.broker_provider_concurrency
CONNECTION_REFRESH_MAX_BACKOFF_SECONDS = 3600
# One refresher per connection holds a lease this long (connections/refresh.py); a refresher
# that died is taken over after it. Longer than any token request can take.
CONNECTION_REFRESH_LEASE_SECONDS = 3 * CONNECTION_REFRESH_TIMEOUT_SECONDS
# After this many refreshes or brokered calls in a row fail, the connection "needs attention".
CONNECTION_ATTENTION_AFTER_FAILURES = 3
# Refreshes one sweep runs at once (threads: a refresh mostly waits for the provider).
CONNECTION_REFRESH_SWEEP_THREADS = ENV.connection_refresh_sweep_threads
# Worker processes one sweep spreads over (the refreshes' CPU is Python's: one process uses one
# core); CONNECTION_REFRESH_SWEEP_THREADS stays the number in flight across all of them.
CONNECTION_REFRESH_SWEEP_PROCESSES = ENV.connection_refresh_sweep_processes
CELERY_BEAT_SCHEDULE["connections-refresh-sweep"] = {
    "task": "connections.tasks.refresh_sweep",
    "schedule": float(ENV.connection_refresh_sweep_seconds),
}

# --- Security ---------------------------------------------------------------------------------
# Proxies whose X-Forwarded-For names the client (rate limits, audit): audit/network.py.
TRUSTED_PROXIES = ENV.trusted_proxies
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_ENGINE = "django.contrib.sessions.backends.db"
if ENV.https:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:; base-uri 'none'"
)

# --- production (issue 8): outgoing e-mail from EMAIL_URL / EMAIL_FROM -------------------------
EMAIL_BACKEND = ENV.email["BACKEND"]
if "HOST" in ENV.email:
    EMAIL_HOST = ENV.email["HOST"]
    EMAIL_PORT = ENV.email["PORT"]
    EMAIL_HOST_USER = ENV.email["HOST_USER"]
    EMAIL_HOST_PASSWORD = ENV.email["HOST_PASSWORD"]
    EMAIL_USE_TLS = ENV.email["USE_TLS"]
    EMAIL_USE_SSL = ENV.email["USE_SSL"]
    EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = ENV.email_from
SERVER_EMAIL = ENV.email_from

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.middleware.RequestIdLogFilter"},
        # No query strings, tokens or secrets in any line, at any level (config/logfilters.py).
        "secrets": {"()": "config.logfilters.SecretsLogFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s "
            "%(client_request_id)s",
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if ENV.log_json else "plain",
            "filters": ["request_id", "secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # runserver's request lines carry query strings: through the same filters.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# Celery's worker and beat log through the configuration above (JSON in production) instead of
# replacing the root logger with their own plain-text format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Demo data (`manage.py seed_demo`), each layer's seeder in dependency order ---------------
DEMO_SEEDERS = [
    "identity.demo.seed",
    "apps_registry.demo.seed",  # apps_registry: the demo publisher and "Acme Notes" (demo-agent)
    "connections.demo.seed",  # connections: the sandbox provider's demo accounts and data
]

# --- audit ------------------------------------------------------------------------------------
# Retention: events older than AUDIT_RETENTION_DAYS (0 = keep all) are archived to JSON lines in
# AUDIT_ARCHIVE_DIR by a daily task, the archive verified, and only then removed.
AUDIT_RETENTION_DAYS = ENV.audit_retention_days
AUDIT_ARCHIVE_DIR = ENV.audit_archive_dir
# The HMAC key of the event chain and of signed checkpoints: outside the database on purpose.
AUDIT_CHAIN_KEY = ENV.audit_chain_key
CELERY_BEAT_SCHEDULE["audit-retention"] = {
    "task": "audit.tasks.apply_retention",
    "schedule": 24 * 60 * 60.0,
}

# --- consent ----------------------------------------------------------------------------------
# Grants past their expiry are ended (tokens removed, GRANT_EXPIRED recorded) and held write
# actions nobody decided expire; both every minute.
CELERY_BEAT_SCHEDULE["consent-expire-grants"] = {
    "task": "consent.tasks.expire_grants",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["consent-expire-pending-actions"] = {
    "task": "consent.tasks.expire_pending_actions",
    "schedule": 60.0,
}
# An approved write still "performing" this long after it was claimed had its worker die (a
# provider call is bounded far below this): the sweep marks it outcome_unknown for the person.
CONSENT_STRANDED_AFTER = timedelta(minutes=10)
CELERY_BEAT_SCHEDULE["consent-strand-stuck-actions"] = {
    "task": "consent.tasks.strand_stuck_actions",
    "schedule": 60.0,
}
# How many authorization requests one browser session keeps for resuming after a fix-it action.
CONSENT_PENDING_REQUESTS_PER_SESSION = 10
# Tokens follow the person's grant (consent/oauth.py), on top of apps_registry's OAuth rules.
OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"] = "consent.oauth.GrantOAuth2Validator"

# --- broker -----------------------------------------------------------------------------------
# One error shape for the API ({"error": {"code", "message", ...}}), see broker/exceptions.py.
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "broker.exceptions.exception_handler"
SPECTACULAR_SETTINGS.update(
    {
        "APPEND_COMPONENTS": {
            "securitySchemes": {"platformToken": {"type": "http", "scheme": "bearer"}}
        },
        "SECURITY": [{"platformToken": []}],
        "COMPONENT_SPLIT_REQUEST": True,
    }
)
# Rate limits per app and per grant (requests per window; 0 = off), from the environment.
BROKER_RATE_LIMIT_PER_APP = ENV.broker_rate_limit_per_app
BROKER_RATE_LIMIT_PER_GRANT = ENV.broker_rate_limit_per_grant
BROKER_RATE_LIMIT_WINDOW_SECONDS = ENV.broker_rate_limit_window_seconds
# A write held for the person's approval expires after this long and is never performed.
BROKER_PENDING_ACTION_TTL = timedelta(hours=24)
CELERY_BEAT_SCHEDULE["broker-recheck-background-jobs"] = {
    "task": "broker.recheck_background_jobs",
    "schedule": 5 * 60.0,
}
