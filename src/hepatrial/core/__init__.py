"""The pure clinical core: never imports Django, sqlite3 or psycopg."""
