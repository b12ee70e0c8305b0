"""The HTTP API: FastAPI app, bearer-token auth, one router per resource."""
