"""Keep RPC URLs out of httpx's own log lines.

httpx logs every request at INFO as `HTTP Request: POST <full URL> "HTTP/1.1 200 OK"`, and RPC URLs
carry provider API keys in their path (Alchemy, Infura, QuickNode). A filter on the "httpx" logger
replaces each registered URL with its label ("l1 url #1"); other URLs pass unchanged. (httpcore's
DEBUG lines name only host and port, never the path.)
"""

from __future__ import annotations

import logging
import threading

import httpx

HTTPX_LOGGER = "httpx"


class UrlRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, url: str, label: str) -> None:
        # httpx logs request.url, whose text is the normalized httpx.URL of what was posted to.
        with self._lock:
            self._labels[str(httpx.URL(url))] = label

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and self._labels:
            record.args = tuple(self._redact(arg) for arg in record.args)
        return True

    def _redact(self, arg: object) -> object:
        if isinstance(arg, httpx.URL | str):
            label = self._labels.get(str(arg))
            if label is not None:
                return label
        return arg


_redactor = UrlRedactor()
logging.getLogger(HTTPX_LOGGER).addFilter(_redactor)


def redact_in_httpx_logs(url: str, label: str) -> None:
    """From now on, httpx log lines show `label` where they would show `url`."""
    _redactor.register(url, label)
