"""The model every tool shares: environments, the API-server view of rendered objects, their rules."""
