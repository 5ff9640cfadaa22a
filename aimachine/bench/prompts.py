"""The two prompts: a short question (TTFT ~ scheduling) and a long context (TTFT ~ prompt processing)."""

from __future__ import annotations

SHORT = "Explain in one paragraph why the sky is blue."

_CONTEXT = (
    "A homelab runs a small cluster of machines in a basement rack. One node holds a graphics card "
    "passed through to a virtual machine, which serves language models to the household. The admin "
    "keeps every setting in one catalog file, rebuilds the machine from it when anything breaks, and "
    "measures how fast the card answers before trusting it with daily work. "
)
# About 1,000 words: long enough that prompt processing, not scheduling, dominates the first token.
LONG = _CONTEXT * 16 + "\nSummarize the text above in three sentences, then list what the admin measures."

PROMPTS: dict[str, str] = {"short": SHORT, "long": LONG}


def tagged(text: str, run_id: int) -> str:
    """A run number in front defeats prefix caches, so each run processes its whole prompt."""
    return f"[run {run_id}] {text}"
