"""The runtime shell: settings, logging, the `lingti` CLI, the composition root and the embedded dev stack."""
