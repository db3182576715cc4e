"""Server-Server API routes, one module per spec area."""
