"""cli/: the `aimachine` commands (click): they parse arguments and print; the work lives in the rooms
below, imported when a command runs."""
