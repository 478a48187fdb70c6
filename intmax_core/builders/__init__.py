"""Block builders: who announced themselves (heartbeats), who is healthy, and whom the API hands out."""
