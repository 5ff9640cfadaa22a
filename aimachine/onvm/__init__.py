"""Programs that run on the VM itself (stdlib only, any Python >= 3.10): written there by configure."""
