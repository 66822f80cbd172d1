"""The `support` command and its sub-commands. The top layer: it may import every other package; nothing imports it."""
