"""Held calls: a tool call waiting for the customer's confirmation or a person's approval, and hand-offs to the
support team."""
