"""reach/: how to reach a VM: ssh (one command line for every caller), its address (the one resolver)
and what runs record about it (.aimachine/NAME.json)."""
