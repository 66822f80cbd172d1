"""The bottom layer: the clock, who is acting, record ids and the database engine. It imports nothing of ours, so
every other package may use it."""
