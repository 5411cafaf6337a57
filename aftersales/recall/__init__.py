"""Recalls at scale: the product-unit register, the notice outbox and its fan-out, acknowledgements, the ledger."""
