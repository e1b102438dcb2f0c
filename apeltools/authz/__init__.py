"""Who may publish: authorised sender DNs from GOCDB, DN list files, and the DN → sites map."""
