"""Test support: an in-process broker (moto + the real handlers behind the local HTTP API)."""
