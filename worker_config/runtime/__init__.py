"""Per-child runtime: the model each child holds, inference, reload, micro-batching, deliveries."""
