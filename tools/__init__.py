"""The store's tools: a registry of least-privilege async functions, and the store they act on.

Importing this package registers every tool on `tools.registry.registry`.
"""

from tools import catalog_tools, customer_tools, handoff_tools, item_tools, order_tools, refund_tools
from tools.knowledge import tool as knowledge_tool
from tools.registry import registry

__all__ = [
    "catalog_tools",
    "customer_tools",
    "handoff_tools",
    "item_tools",
    "knowledge_tool",
    "order_tools",
    "refund_tools",
    "registry",
]
