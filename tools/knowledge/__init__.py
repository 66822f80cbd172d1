"""The help centre: the store's articles split into passages, kept in the store's database, found by search.

Articles are Markdown files with front matter (`articles`), split by headings into passages (`chunking`),
imported only when their content changed (`importer`), and searched by keyword inside the database itself
(`keyword`), by meaning when an embedding model is configured (`vectors`, `embeddings`), the two lists fused by
reciprocal rank fusion (`search`). `search_help_centre` (`tool`) is the read tool any customer may use.
"""
