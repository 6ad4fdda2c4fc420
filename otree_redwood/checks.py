"""Django system checks: misconfiguration found at start-up.

Ids are stable; docs/checks.rst lists each with its hint.
"""
import os
import sys

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .engine import conf


def _is_production():
    return os.environ.get("OTREE_PRODUCTION") not in (None, "", "0")


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    messages = []
    unknown = conf.unknown_keys()
    if unknown:
        messages.append(Error(
            "Unknown REDWOOD setting(s): %s" % ", ".join(unknown),
            hint="Known keys: %s (docs/configuration.rst)." % ", ".join(sorted(conf.DEFAULTS)),
            id="otree_redwood.E001",
        ))
    try:
        max_bytes = int(conf.get("MAX_MESSAGE_BYTES"))
        if max_bytes < 256:
            raise ValueError
    except (TypeError, ValueError):
        messages.append(Error(
            "REDWOOD['MAX_MESSAGE_BYTES'] must be an integer of at least 256.",
            hint="The default is 65536 (64 KiB).",
            id="otree_redwood.E002",
        ))
    try:
        nesting = int(conf.get("MAX_NESTING"))
        if not 2 <= nesting <= 500:
            raise ValueError
    except (TypeError, ValueError):
        messages.append(Error(
            "REDWOOD['MAX_NESTING'] must be an integer from 2 to 500.",
            hint="The default is 64.  Deeper values reach Python's recursion limit wherever a stored "
                 "value is encoded or decoded again (exports, the monitor).",
            id="otree_redwood.E005",
        ))
    if "otree_redwood" not in (getattr(settings, "EXTENSION_APPS", None) or []):
        messages.append(Error(
            "otree_redwood is used by this project but settings.EXTENSION_APPS does not list it.",
            hint="Add EXTENSION_APPS = ['otree_redwood'] to settings.py; oTree only loads "
                 "the WebSocket routes and exports of apps listed there.",
            id="otree_redwood.E003",
        ))
    if _is_production() and not conf.get("REDIS_URL"):
        messages.append(Warning(
            "Production mode without REDWOOD['REDIS_URL']: the embedded Redis is used.",
            hint="The embedded Redis suits one machine. Set REDWOOD = {'REDIS_URL': 'redis://host:6379/0'} "
                 "(or the env var REDWOOD_REDIS_URL) to use a managed Redis server.",
            id="otree_redwood.W001",
        ))
    return messages


@register(Tags.compatibility)
def check_redis(app_configs=None, **kwargs):
    """Redis reachable (only when a URL is configured and a server starts)."""
    url = conf.get("REDIS_URL")
    servers = ("prodserver", "runprodserver", "devserver_inner", "redwood_scheduler")
    if not url or not any(cmd in sys.argv for cmd in servers):
        return []
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        return [Error(
            "Redis at REDWOOD['REDIS_URL'] (%s) is unreachable: %s" % (url, exc),
            hint="Start Redis or fix the URL; otree-redwood keeps live state and timers there.",
            id="otree_redwood.E004",
        )]
    return []


@register(Tags.compatibility)
def check_channel_layer(app_configs=None, **kwargs):
    layers = getattr(settings, "CHANNEL_LAYERS", {}) or {}
    backend = (layers.get("default") or {}).get("BACKEND", "")
    several = int(os.environ.get("REDWOOD_PROCESSES", "1") or 1) > 1
    if several and "InMemory" in backend:
        return [Warning(
            "Several server processes are configured (REDWOOD_PROCESSES) but oTree's channel layer is in memory.",
            hint="oTree's own wait pages and auto-advance need a shared layer across processes: set "
                 "CHANNEL_LAYERS to channels_redis.core.RedisChannelLayer (docs/deployment.rst).",
            id="otree_redwood.W002",
        )]
    return []
