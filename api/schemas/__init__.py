"""Request bodies (`XxxCreate`, `XxxDecision`…) and responses (`XxxPublic`)."""
