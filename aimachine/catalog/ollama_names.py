"""Ollama's model names as its 0.32.15 server reads them (types/model/name.go: ParseName, ParseNameBare,
isValidPart, DisplayShortest): `MODEL[:TAG]`, `NAMESPACE/MODEL[:TAG]`, `HOST[:PORT]/NAMESPACE/MODEL[:TAG]`,
the defaults registry.ollama.ai, library and latest filled in.

The host names the registry the pull asks (`https://HOST/v2/NAMESPACE/MODEL/manifests/TAG`); an `http://`
in front parses, but the pull handler passes the name on without it (PullHandler ->
PullModel(name.DisplayShortest())), so only `ollama pull --insecure` makes the pull plain http.
`ollama list` shows the DisplayShortest form: `llama3.2:3b`, `team/tiny:latest`,
`192.168.1.5:5000/library/tiny:latest`.
Pure: no pyinfra."""

from __future__ import annotations

import re
from typing import NamedTuple

DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
# isValidPart: a letter, digit or _ first; then the host may have - _ . :, the namespace - _, model and
# tag - _ . (lengths: host up to 350, the others up to 80)
_PARTS = {
    "host": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}"),
    "namespace": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"),
    "model": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
    "tag": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
}
FORMS = "MODEL[:TAG], NAMESPACE/MODEL[:TAG] or HOST[:PORT]/NAMESPACE/MODEL[:TAG]"


class Name(NamedTuple):
    host: str
    namespace: str
    model: str
    tag: str

    def shortest(self) -> str:
        """DisplayShortest: how `ollama list` and `ollama ps` show the name."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"


def scheme(name: str) -> str | None:
    """The `http` of `http://HOST/...` (ParseNameBare cuts it off the host), else None."""
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", name.strip())
    return found[1] if found else None


def parse(name: str) -> Name | None:
    """NAME with Ollama's defaults filled in; None when Ollama would call it invalid. A scheme in
    front is left out (see scheme())."""
    text = name.strip()
    if scheme(text):
        text = text.split("://", 1)[1]
    text = _source_suffix_normalised(text)
    tag = ""
    if text.rfind(":") > text.rfind("/"):
        text, tag = text.rsplit(":", 1)
    parts = text.split("/")
    if len(parts) > 3:  # ParseNameBare keeps the rest in the host, where "/" is not allowed
        return None
    host, namespace, model = [""] * (3 - len(parts)) + parts
    found = Name(host or DEFAULT_HOST, namespace or DEFAULT_NAMESPACE, model, tag or DEFAULT_TAG)
    if any(not _PARTS[kind].fullmatch(getattr(found, kind)) for kind in _PARTS):
        return None
    # a part "promised" by its separator but empty is invalid (cutPromised's MissingPart)
    if (len(parts) > 1 and not all(parts)) or (name.strip().endswith(":")):
        return None
    return found


def _source_suffix_normalised(text: str) -> str:
    """internal/modelref: a `:local` suffix is dropped, `MODEL:TAG:cloud` pulls as `MODEL:TAG-cloud`."""
    base, _, suffix = text.rpartition(":")
    if base and "/" not in suffix and suffix.lower() == "local":
        return base
    if base and "/" not in suffix and suffix.lower() == "cloud" and base.rfind(":") > base.rfind("/"):
        return base + "-cloud"
    return text


def listed_as(name: str) -> str:
    """How `ollama list` shows NAME once pulled (NAME itself when Ollama would not take it)."""
    found = parse(name)
    return found.shortest() if found else name


def registry(name: str) -> str | None:
    """The HOST[:PORT] NAME names, None for Ollama's own registry (no host in the name)."""
    found = parse(name)
    return found.host if found and found.host.lower() != DEFAULT_HOST else None


def valid_host(host: str) -> bool:
    return bool(_PARTS["host"].fullmatch(host))
