"""guest/: what the VM gets, as pure functions: rendered files, parsers of real command output, the
driver choice, the firewall rules. No I/O, no pyinfra: the configure/ steps call them."""
