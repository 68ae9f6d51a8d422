"""Connection events: EventBridge first, then the tenant's webhook (delivered by the webhook function)."""
