"""The HTTP edge shared by the API and the page: the guard (Host allowlist, concurrency cap,
body deadline, security headers) and uvicorn's capped request head."""
