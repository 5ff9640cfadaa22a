"""aimachine: a Proxmox VE VM with a passed-through NVIDIA GPU serving vLLM and Ollama."""

__version__ = "0.1.0"
