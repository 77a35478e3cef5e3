"""overseer: durable DAG job graphs run by worker processes on a fact store."""
