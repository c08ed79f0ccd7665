"""TM Forum API conventions shared by the wholesale server and the retail SDK."""
