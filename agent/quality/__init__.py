"""The quality loop: what tells a store how the assistant is doing. Flags on runs that a reviewer should read
(grounding, fallbacks, refusals, failures, a customer's thumbs-down), the customer's verdict on an answer, the
review queue's golden-case export and the store's figures."""
