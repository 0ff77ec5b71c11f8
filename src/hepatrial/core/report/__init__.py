"""The analysis report: tables and figures from ADaM rows."""
