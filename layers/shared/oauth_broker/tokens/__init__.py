"""Token lifecycle: `TokenRefresher` is the one way anything gets a usable access token."""
