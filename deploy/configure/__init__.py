"""VM configuration with pyinfra: one @deploy per concern, run by deploy/configure/vm.py."""
