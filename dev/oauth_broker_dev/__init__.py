"""Development-only code: local runtime, fake Google, dev IdP, CLI. Never deployed."""
