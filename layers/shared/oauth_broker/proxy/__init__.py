"""The proxy: path safety, header hygiene, retries, the concurrency semaphore and the forwarding core
(`service.ProxyService`) that the raw proxy, Gmail and Contacts routes share."""
