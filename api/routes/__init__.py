"""One router per resource; topic commands are split by lifecycle phase (点题, 领题, 破题, 结题)."""
