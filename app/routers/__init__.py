"""HTTP routers, one module per concern (OGC API Features, tiles, health)."""
