"""The only way WeasyPrint may load a resource: data URIs and files inside the allowed folders.

WeasyPrint's default fetcher follows any URL: `file:///etc/passwd` in a note ends up embedded
in the PDF, and http(s) requests leave the machine. This fetcher refuses all of that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint.urls import FatalURLFetchingError, URLFetcher


class ResourceRefused(FatalURLFetchingError):  # type: ignore[misc]
    """A document asked for a resource outside the allowed folders."""


class ContentOnlyFetcher(URLFetcher):  # type: ignore[misc]
    def __init__(self, allowed_roots: list[Path], **kwargs: Any) -> None:
        super().__init__(allowed_protocols={"data", "file"}, allow_redirects=False, **kwargs)
        self._roots = [root.resolve() for root in allowed_roots]

    def allows(self, url: str) -> bool:
        """Whether `url` is a data: URI or a file (symlinks followed, `..` resolved) inside an allowed root."""
        try:
            parts = urlsplit(url)
            if parts.scheme == "data":
                return True
            if parts.scheme != "file" or parts.netloc:
                return False
            target = Path(unquote(parts.path)).resolve()
            return any(target.is_relative_to(root) for root in self._roots) and target.is_file()
        except (ValueError, OSError):  # a NUL byte, a malformed URL, a loop of symlinks
            return False

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not self.allows(url):
            raise ResourceRefused(
                f"refused to load {url[:200]}: only files inside the content folder and templates may load"
            )
        return super().fetch(url, headers)
