"""Gmail push notifications: watches on a tenant's Pub/Sub topic (`watches`), the push's OIDC
token (`verify`) and the receiver that turns a push into `gmail.messages_added` events
(`receiver`). API.md "Gmail push notifications"."""
