"""Running an environment on a local Ray: run dir, processes, Ray head, Postgres, the Serve API."""
