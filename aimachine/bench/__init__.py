"""`aimachine bench`: how fast the VM's engines serve tokens, against the card's bandwidth limit."""
