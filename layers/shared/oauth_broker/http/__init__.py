"""API Gateway glue: the resolver every function uses, problem documents, the caller's principal."""
