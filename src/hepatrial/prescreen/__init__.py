"""Pre-screening a population: the compiled criteria (core.prescreen) run on a database
engine (DuckDB embedded, or PostgreSQL), each candidate explained by the one-candidate
screening."""
