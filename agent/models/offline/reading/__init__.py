"""How the offline model reads a customer's text: patterns, typos, addresses, social phrases and matching."""
